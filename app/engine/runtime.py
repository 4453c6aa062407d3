"""What the core hands every family's engine: the database, the domain clock, the streams
engine, the settings and the persistent secrets — explicitly, and nothing of the web layer.

A family's service is built from a `Runtime` (`Family.create(runtime)`) and implements
`FamilyService`, the lifecycle the core drives: seed → start → (reset: stop → wipe → seed →
start) → stop.
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.clock import DomainClock
from app.config import Settings
from app.db import Database
from app.engine.streams import Emit, Streams

_SECRET_READ = text("SELECT value FROM secrets WHERE name = :name")
_SECRET_WRITE = text("INSERT INTO secrets (name, value) VALUES (:n, :v)")


class Secrets:
    """Process-wide secrets that survive restarts (token-signing keys), stored in `secrets`."""

    def __init__(self, db: Database, streams: Streams) -> None:
        self.db = db
        self.streams = streams

    async def get(self, name: str) -> str:
        def read(conn: Connection) -> str | None:
            row = conn.execute(_SECRET_READ, {"name": name}).first()
            return None if row is None else str(row[0])

        value = await self.db.read(read)
        if value is not None:
            return value
        fresh = _secrets.token_hex(32)

        def write(conn: Connection, emit: Emit) -> str:
            row = conn.execute(_SECRET_READ, {"name": name}).first()
            if row is not None:  # another writer created it meanwhile
                return str(row[0])
            conn.execute(_SECRET_WRITE, {"n": name, "v": fresh})
            return fresh

        return await self.streams.transact(write)


@dataclass
class Runtime:
    db: Database
    clock: DomainClock
    streams: Streams
    settings: Settings
    secrets: Secrets
    # "demo" or "none": what the last start or reset seeded (a reset may change it)
    seed_mode: str = "demo"


class FamilyService(Protocol):
    """The lifecycle every family's service offers the core."""

    async def seed(self, mode: str) -> None:
        """Reference data always, demo identities when mode == "demo"; idempotent."""

    async def start(self) -> None:
        """After seeding: load state, re-arm timers, start simulators."""

    async def stop(self) -> None:
        """Stop simulators and background tasks."""

    async def wipe(self) -> None:
        """Delete the family's rows and in-memory state (control-API reset)."""

    def credentials(self) -> list[str]:
        """Lines describing the demo identities (banner, `refserver seed`)."""

    async def token(self, args: list[str]) -> str:
        """What `refserver token <family> ...` prints."""

    def dashboard(self) -> dict[str, Any] | None:
        """The demo identity the live dashboard acts as (None when unseeded)."""
