"""The app's typed state: everything a request, a family or a test needs, in one object."""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.clock import DomainClock
from app.config import Settings
from app.db import Database
from app.engine.streams import Emit, Streams
from app.faults import FaultRules
from app.journal import Journal


@dataclass
class AppContext:
    settings: Settings
    db: Database
    clock: DomainClock
    streams: Streams
    faults: FaultRules
    journal: Journal
    # each family's service object, by family name ("musubi", "broker", "order-entry")
    services: dict[str, Any] = field(default_factory=dict)
    seed_mode: str = "demo"

    async def secret(self, name: str) -> str:
        """A process-wide secret that survives restarts (e.g. a token-signing key)."""
        sql = text("SELECT value FROM secrets WHERE name = :name")

        def read(conn: Connection) -> str | None:
            row = conn.execute(sql, {"name": name}).first()
            return None if row is None else str(row[0])

        value = await self.db.read(read)
        if value is not None:
            return value
        fresh = _secrets.token_hex(32)

        def write(conn: Connection, emit: Emit) -> str:
            row = conn.execute(sql, {"name": name}).first()
            if row is not None:
                return str(row[0])
            conn.execute(text("INSERT INTO secrets (name, value) VALUES (:n, :v)"), {"n": name, "v": fresh})
            return fresh

        return await self.streams.transact(write)
