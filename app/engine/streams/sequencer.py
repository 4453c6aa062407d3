"""The write path: DB-first, group-committed appends with per-stream sequence numbers.

One writer thread owns one database connection. Callers on the event loop hand it units of
work (plain events, or a function to run inside the transaction that may emit events); the
writer takes every unit waiting, up to `max_batch` events, and for the whole batch:

    BEGIN → run each unit's function (own SAVEPOINT) → allocate seqs (one head UPDATE per
    stream, in the database) → INSERT events (executemany) → COMMIT → [loop] ring → notify

Sequence numbers are allocated by the database inside the write transaction (the head row is
locked by the UPDATE), so a second process on the same PostgreSQL cannot break contiguity. A
failed commit rolls the heads back with the events: no seq is skipped and nothing reaches the
ring. The ORM stays off this path: Core/driver `executemany` only.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy.engine import Connection

from app.clock import DomainClock
from app.db import Database
from app.engine.errors import ServiceUnavailable
from app.engine.streams.event import Encoder, Event, NewEvent

log = logging.getLogger("refserver.sequencer")

T = TypeVar("T")
Emit = Callable[..., None]  # emit(family, stream, kind, body, ref=None)
UnitFn = Callable[[Connection, Emit], T]

_STOP = object()
_HEAD_CHUNK = 300


class ApplyFailed(RuntimeError):
    """The unit committed, but applying it to memory raised: memory no longer follows the
    database (whatever the cause, even a domain error: the commit already stands)."""


def default_encoder(seq: int, prev_seq: int, ts_ms: int, kind: str, body: Any) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)


@dataclass(slots=True)
class _Unit(Generic[T]):
    future: asyncio.Future[Any]
    events: list[NewEvent] = field(default_factory=list)
    fn: UnitFn[T] | None = None
    apply: Callable[[Any], None] | None = None  # memory follows the commit (see unit.py)
    result: Any = None
    error: BaseException | None = None
    committed: list[Event] = field(default_factory=list)


class Sequencer:
    def __init__(
        self,
        db: Database,
        clock: DomainClock,
        *,
        on_commit: Callable[[list[Event]], None],
        max_batch: int = 4096,
    ) -> None:
        self.db = db
        self.clock = clock
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.encoders: dict[str, Encoder] = {}
        # test/fault hook: called inside the transaction right before COMMIT; raising fails it
        self.before_commit: Callable[[Connection], None] | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._known_streams: set[tuple[str, str]] = set()
        self._conn: Connection | None = None
        ph = db.placeholder
        self._sql_insert = (
            "INSERT INTO stream_events (family, stream, seq, ts_ms, kind, ref, payload) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph})"
        )
        self._sql_new_head = (
            f"INSERT INTO stream_heads (family, stream, head) VALUES ({ph}, {ph}, 0) ON CONFLICT DO NOTHING"
        )
        self.batches = 0  # observability: how many transactions were committed

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="stream-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Refuse new work, commit everything already handed over, stop the writer."""
        self._closing = True
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    def register_encoder(self, family: str, encoder: Encoder) -> None:
        self.encoders[family] = encoder

    def forget_streams(self) -> None:
        """After a wipe, heads must be re-created in the database."""
        self._known_streams.clear()

    # --- submitting (event loop side) ----------------------------------------------------------
    def _submit(self, unit: _Unit[Any]) -> asyncio.Future[Any]:
        if self._closing or self._thread is None:
            raise ServiceUnavailable("the server is shutting down", code="SHUTTING_DOWN")
        self._queue.put(unit)
        return unit.future

    async def append(self, family: str, stream: str, kind: str, body: Any, ref: str | None = None) -> Event:
        loop = self._loop or asyncio.get_running_loop()
        unit: _Unit[None] = _Unit(loop.create_future(), [NewEvent(family, stream, kind, body, ref)])
        await self._submit(unit)
        return unit.committed[0]

    async def append_many(self, events: list[NewEvent]) -> list[Event]:
        loop = self._loop or asyncio.get_running_loop()
        unit: _Unit[None] = _Unit(loop.create_future(), list(events))
        await self._submit(unit)
        return unit.committed

    async def transact(self, fn: UnitFn[T], apply: Callable[[T], None] | None = None) -> T:
        """Run `fn(conn, emit)` in the writer's transaction; its events commit with its writes.

        `fn` runs in the writer thread inside its own SAVEPOINT: if it raises, its writes and
        events are rolled back and the exception is raised here; other units are unaffected.
        `apply(result)` runs on the event loop after COMMIT, before the events reach the ring or
        any subscriber: whoever sees an event sees the memory that goes with it.
        """
        loop = self._loop or asyncio.get_running_loop()
        unit: _Unit[T] = _Unit(loop.create_future(), fn=fn, apply=apply)
        await self._submit(unit)
        return unit.result  # type: ignore[no-any-return]

    # --- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        conn = self._connect()
        if conn is None:
            return
        with conn:
            self._conn = conn
            stopping = False
            while not stopping:
                item = self._queue.get()
                if item is _STOP:
                    break
                batch: list[_Unit[Any]] = [item]
                size = len(item.events) or 1
                while size < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                    size += len(item.events) or 1
                self._commit_batch(conn, batch)
            self._conn = None

    def _connect(self) -> Connection | None:
        """The writer's connection. While the database refuses it (locked, down), every unit
        handed over fails with the reason instead of waiting forever; `None` when stopped."""
        while True:
            try:
                return self.db.write_engine.connect()
            except Exception as exc:
                log.warning("the stream writer cannot connect: %r; retrying", exc)
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        return None
                    item.error = exc
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self._deliver, [item], [])
                time.sleep(0.05)

    def _commit_batch(self, conn: Connection, batch: list[_Unit[Any]]) -> None:
        committed: list[Event] = []
        try:
            with conn.begin():
                if any(unit.fn is not None for unit in batch):
                    cur = conn.connection.cursor()
                    try:
                        for unit in batch:
                            if unit.fn is not None:
                                self._run_fn(conn, cur, unit)
                    finally:
                        cur.close()
                committed = self._allocate_and_insert(conn, batch)
                if self.before_commit is not None:
                    self.before_commit(conn)
            self.batches += 1
        except BaseException as exc:  # the whole batch is refused; nothing reaches the ring
            log.warning("stream batch of %d units rolled back: %r", len(batch), exc)
            for unit in batch:
                if unit.error is None:
                    unit.error = exc
                unit.committed = []
            committed = []
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, batch, committed)

    def _run_fn(self, conn: Connection, cur: Any, unit: _Unit[Any]) -> None:
        """`unit.fn` in its own SAVEPOINT, issued on the driver's cursor (SQLAlchemy's nested
        transaction costs more than the unit's own statements)."""
        assert unit.fn is not None
        emitted: list[NewEvent] = []

        def emit(family: str, stream: str, kind: str, body: Any, ref: str | None = None) -> None:
            emitted.append(NewEvent(family, stream, kind, body, ref))

        cur.execute("SAVEPOINT unit")
        try:
            unit.result = unit.fn(conn, emit)
        except Exception as exc:
            cur.execute("ROLLBACK TO SAVEPOINT unit")
            cur.execute("RELEASE SAVEPOINT unit")
            unit.error = exc
            unit.events = []
        else:
            cur.execute("RELEASE SAVEPOINT unit")
            unit.events = emitted

    def _allocate_and_insert(self, conn: Connection, batch: list[_Unit[Any]]) -> list[Event]:
        counts: dict[tuple[str, str], int] = {}
        for unit in batch:
            if unit.error is None:
                for ev in unit.events:
                    key = (ev.family, ev.stream)
                    counts[key] = counts.get(key, 0) + 1
        if not counts:
            return []
        # the stream statements go to the driver's cursor: the same connection and transaction,
        # without SQLAlchemy's per-statement execution context (a third of a one-event commit)
        cur = conn.connection.cursor()
        try:
            new = [k for k in counts if k not in self._known_streams]
            if new:
                cur.executemany(self._sql_new_head, new)
            heads = self._advance_heads(cur, counts)
            committed = self._encode(batch, counts, heads)
            cur.executemany(self._sql_insert, committed)
        finally:
            cur.close()
        return committed

    def _encode(
        self, batch: list[_Unit[Any]], counts: dict[tuple[str, str], int], heads: dict[tuple[str, str], int]
    ) -> list[Event]:
        """Each event's seq and wire bytes (the family's encoder, once), in batch order."""
        # next seq to hand out per stream: head before this batch + 1
        nxt = {k: heads[k] - n + 1 for k, n in counts.items()}
        now = self.clock.now_ms()
        encoders = self.encoders
        committed: list[Event] = []
        # Events live on in rings and queues, so their bytes are copied to their exact size:
        # orjson hands back bytes whose allocation is its whole buffer (4 KiB for a 400 B event).
        exact: dict[int, bytes] = {}
        for unit in batch:
            if unit.error is not None:
                continue
            out: list[Event] = []
            for ev in unit.events:
                key = (ev.family, ev.stream)
                seq = nxt[key]
                nxt[key] = seq + 1
                body = ev.body
                if isinstance(body, bytes):  # already wire bytes: stored and sent as given
                    data = exact.get(id(body))
                    if data is None:  # one right-sized copy per body, however many events share it
                        data = exact[id(body)] = bytes(memoryview(body))
                else:
                    data = encoders.get(ev.family, default_encoder)(seq, seq - 1, now, ev.kind, body)
                    data = bytes(memoryview(data))
                e = Event(ev.family, ev.stream, seq, now, ev.kind, ev.ref, data)
                out.append(e)
            unit.committed = out
            committed.extend(out)
        return committed

    def _advance_heads(self, cur: Any, counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """One UPDATE … RETURNING per chunk of streams: heads advance inside the transaction."""
        ph = self.db.placeholder
        out: dict[tuple[str, str], int] = {}
        items = sorted(counts.items())  # a stable lock order across processes
        for i in range(0, len(items), _HEAD_CHUNK):
            chunk = items[i : i + _HEAD_CHUNK]
            values = ", ".join([f"({ph}, {ph}, {ph})"] * len(chunk))
            params: list[Any] = []
            for (family, stream), n in chunk:
                params.extend((family, stream, n))
            if self.db.is_sqlite:
                sql = (
                    f"WITH v(family, stream, n) AS (VALUES {values}) "
                    "UPDATE stream_heads SET head = stream_heads.head + v.n FROM v "
                    "WHERE stream_heads.family = v.family AND stream_heads.stream = v.stream "
                    "RETURNING stream_heads.family, stream_heads.stream, stream_heads.head"
                )
            else:
                values = ", ".join([f"({ph}::text, {ph}::text, {ph}::bigint)"] * len(chunk))
                sql = (
                    f"UPDATE stream_heads AS h SET head = h.head + v.n FROM (VALUES {values}) "
                    "AS v(family, stream, n) WHERE h.family = v.family AND h.stream = v.stream "
                    "RETURNING h.family, h.stream, h.head"
                )
            cur.execute(sql, tuple(params))
            for family, stream, head in cur.fetchall():
                out[(family, stream)] = int(head)
        if len(out) != len(counts):
            missing = set(counts) - set(out)
            raise RuntimeError(f"stream heads missing for {sorted(missing)[:3]}")
        return out

    # --- back on the event loop: ring, then notify, then wake the callers ------------------------
    def _deliver(self, batch: list[_Unit[Any]], committed: list[Event]) -> None:
        for unit in batch:
            if unit.apply is not None and unit.error is None:
                try:
                    unit.apply(unit.result)
                except Exception as exc:  # the commit stands; the caller learns memory did not follow
                    log.exception("applying a committed unit to memory failed")
                    err = ApplyFailed(f"committed, but applying it to memory failed: {exc!r}")
                    err.__cause__ = exc
                    unit.error = err
        if committed:
            self._known_streams.update((e.family, e.stream) for e in committed)
            try:
                self.on_commit(committed)
            except Exception:  # a broken subscriber must never lose a caller its answer
                log.exception("delivering committed events failed")
        for unit in batch:
            fut = unit.future
            if fut.done():
                continue
            if unit.error is not None:
                fut.set_exception(unit.error)
            else:
                fut.set_result(None)
