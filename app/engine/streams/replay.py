"""Reads from any seq: ring first, SQL for what the ring no longer has, then the ring again.

The source is reported: `ring` (all from memory), `sql` (all from the database), `mixed`
(started in SQL and ran into the ring). Bytes are identical whichever source served them:
the ring holds the very bytes that were stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.db import Database
from app.engine.streams.event import Event
from app.engine.streams.ring import Ring


@dataclass(slots=True)
class ReadResult:
    events: list[Event]
    source: str  # "ring" | "sql" | "mixed"
    head: int  # the stream's committed head when the read finished


_SQL = text(
    "SELECT seq, ts_ms, kind, ref, payload FROM stream_events "
    "WHERE family = :family AND stream = :stream AND seq >= :lo AND seq <= :hi "
    "ORDER BY seq LIMIT :limit"
)


def sql_range(
    db: Database, family: str, stream: str, lo: int, hi: int, limit: int
) -> Callable[[Connection], list[Event]]:
    def run(conn: Connection) -> list[Event]:
        rows = conn.execute(
            _SQL, {"family": family, "stream": stream, "lo": lo, "hi": hi, "limit": limit}
        ).all()
        return [Event(family, stream, int(r[0]), int(r[1]), r[2], r[3], bytes(r[4])) for r in rows]

    return run


async def read(
    db: Database,
    ring: Ring,
    family: str,
    stream: str,
    from_seq: int,
    limit: int,
    now_ms: Callable[[], int],
) -> ReadResult:
    """At most `limit` events with seq >= from_seq, in order, ring first."""
    from_seq = max(from_seq, 1)
    out: list[Event] = []
    used_ring = used_sql = False
    cursor = from_seq
    while len(out) < limit and cursor <= ring.last_seq:
        from_ring = ring.since(cursor, now_ms(), limit - len(out))
        if from_ring is not None:
            used_ring = used_ring or bool(from_ring)
            out.extend(from_ring)
            break
        # the ring starts after `cursor`: fetch the part before it from SQL
        hi = ring.first_seq - 1
        rows = await db.read(sql_range(db, family, stream, cursor, hi, limit - len(out)))
        used_sql = True
        if not rows:
            break
        out.extend(rows)
        cursor = rows[-1].seq + 1
        if rows[-1].seq < hi and len(out) < limit:
            break  # the database has nothing more below the ring (should not happen)
    source = "mixed" if used_ring and used_sql else ("sql" if used_sql else "ring")
    return ReadResult(out, source, ring.last_seq)
