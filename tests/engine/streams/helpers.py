"""What the streams engine tests share: an engine on a fresh database, stored seqs, waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text

from app.clock import DomainClock
from app.db import Database
from app.engine.streams import Event, Streams, Subscription

FAM = "order-entry"


@contextlib.asynccontextmanager
async def open_streams(url: str, **kw: Any) -> AsyncIterator[Streams]:
    db = Database(url)
    clock = DomainClock(frozen=True, start_ms=1_000_000)
    streams = Streams(db, clock, **kw)
    streams.start()
    try:
        yield streams
    finally:
        await streams.close()
        db.dispose()


def sql_seqs(db: Database, stream: str) -> list[int]:
    return db.read_sync(
        lambda c: [
            int(r[0])
            for r in c.execute(
                text("SELECT seq FROM stream_events WHERE family=:f AND stream=:s ORDER BY seq"),
                {"f": FAM, "s": stream},
            )
        ]
    )


async def take(sub: Subscription, count: int, within_s: float = 5.0) -> list[Event]:
    """The next `count` events of `sub` (fails after `within_s` seconds)."""
    got: list[Event] = []
    async with asyncio.timeout(within_s):
        while len(got) < count:
            got.extend(await sub.next_batch())
    return got
