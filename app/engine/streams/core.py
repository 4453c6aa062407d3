"""`Streams`: the one object the families use — append, read, subscribe, control.

streams = Streams(db, clock, ring_max_events=..., ring_retention_ms=..., queue_max=..., ring_max_bytes=...)
streams.start()
ev  = await streams.append("order-entry", account, "execution", body)
uow = streams.unit_of_work("broker", reload)             # the family's consistency rule
res = await uow.commit(write, apply)    # domain writes + events, one commit, then memory
rr  = await streams.read("musubi", party_id, from_seq=1, limit=1000)   # rr.source
sub = await streams.subscribe("broker", login, from_seq=None)          # live only
batch = await sub.next_batch()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.clock import DomainClock
from app.db import Database
from app.engine.streams import replay
from app.engine.streams.event import Encoder, Event, NewEvent
from app.engine.streams.hub import Hub, StreamState, Subscription
from app.engine.streams.replay import ReadResult
from app.engine.streams.sequencer import Emit, Sequencer
from app.engine.streams.unit import Reload, UnitOfWork

T = TypeVar("T")

_HEAD_SQL = text("SELECT head FROM stream_heads WHERE family = :family AND stream = :stream")


class Streams:
    def __init__(
        self,
        db: Database,
        clock: DomainClock,
        *,
        ring_max_events: int = 10_000,
        ring_retention_ms: int = 300_000,
        queue_max: int = 4096,
        max_batch: int = 4096,
        ring_max_bytes: int = 64 * 1024 * 1024,
        sweep_every_s: float = 30.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.hub = Hub(
            ring_max_events=ring_max_events,
            ring_retention_ms=ring_retention_ms,
            queue_max=queue_max,
            ring_max_bytes=ring_max_bytes,
            now_ms=clock.now_ms,
        )
        self.sequencer = Sequencer(db, clock, on_commit=self.hub.publish, max_batch=max_batch)
        self.sweep_every_s = sweep_every_s
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.sequencer.start()
        self._sweeper = asyncio.get_running_loop().create_task(
            self._sweep_now_and_then(), name="streams-sweep"
        )

    async def _sweep_now_and_then(self) -> None:
        """Retention is judged at read time; this also lets an idle server give back what
        retention has passed, and the states of streams nobody uses any more."""
        while True:
            await asyncio.sleep(self.sweep_every_s)
            self.hub.sweep()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await self.sequencer.close()
        self.hub.clear("shutdown")

    def register_encoder(self, family: str, encoder: Encoder) -> None:
        self.sequencer.register_encoder(family, encoder)

    # --- writing -------------------------------------------------------------------------------
    async def append(self, family: str, stream: str, kind: str, body: Any, ref: str | None = None) -> Event:
        return await self.sequencer.append(family, stream, kind, body, ref)

    async def append_many(self, events: list[NewEvent]) -> list[Event]:
        return await self.sequencer.append_many(events)

    async def transact(self, fn: Callable[[Connection, Emit], T]) -> T:
        return await self.sequencer.transact(fn)

    def unit_of_work(self, family: str, reload: Reload) -> UnitOfWork:
        """The family's unit of work (see `unit.py`): the one way a family changes its state."""
        return UnitOfWork(self.sequencer, family, reload)

    # --- state ---------------------------------------------------------------------------------
    async def state(self, family: str, stream: str) -> StreamState:
        key = (family, stream)
        hub = self.hub
        state = hub.states.get(key)
        if state is not None:
            return state

        def load(conn: Connection) -> int:
            row = conn.execute(_HEAD_SQL, {"family": family, "stream": stream}).first()
            return int(row[0]) if row else 0

        while True:
            sweeps = hub.sweeps
            head = await self.db.read(load)
            state = hub.states.get(key)  # a commit may have created it meanwhile
            if state is not None:
                return state
            if hub.sweeps == sweeps:  # else a state made meanwhile may be gone: reload the head
                return hub.new_state(family, stream, head)

    async def head(self, family: str, stream: str) -> int:
        return (await self.state(family, stream)).head

    # --- reading -------------------------------------------------------------------------------
    async def read(self, family: str, stream: str, from_seq: int, limit: int) -> ReadResult:
        state = await self.state(family, stream)
        return await self._read(state, from_seq, limit)

    async def _read(self, state: StreamState, from_seq: int, limit: int) -> ReadResult:
        return await replay.read(
            self.db, state.ring, state.family, state.stream, from_seq, limit, self.clock.now_ms
        )

    async def subscribe(
        self,
        family: str,
        stream: str,
        from_seq: int | None = None,
        *,
        catch_up: bool = True,
        queue_max: int | None = None,
    ) -> Subscription:
        """Live events from now (`from_seq=None`), or every event with seq >= from_seq first.

        `sub.source` tells where the replay comes from: live | ring | sql | mixed.
        """
        state = await self.state(family, stream)
        # from here to `add` there is no await: the head we read and the registration are atomic
        head = state.head
        start = head + 1 if from_seq is None else max(from_seq, 1)
        sub = Subscription(
            state,
            cursor=start,
            target=head,
            reader=self._read,
            queue_max=queue_max or self.hub.queue_max,
            catch_up=catch_up,
        )
        ring = state.ring
        if start > head:
            sub.source = "live"
        else:
            ring.expire(self.clock.now_ms())
            if start >= ring.first_seq:
                sub.source = "ring"
            elif len(ring) and ring.first_seq <= head:
                sub.source = "mixed"
            else:
                sub.source = "sql"
        state.subscribers.add(sub)
        return sub

    # --- control -------------------------------------------------------------------------------
    def disconnect(self, family: str, stream: str, reason: str = "disconnected by control API") -> int:
        return self.hub.disconnect(family, stream, reason)

    async def skip(self, family: str, stream: str, count: int) -> int:
        state = await self.state(family, stream)
        state.skip += count
        return state.skip

    def subscriber_count(self, family: str, stream: str) -> int:
        state = self.hub.states.get((family, stream))
        return len(state.subscribers) if state else 0

    async def wipe(self) -> None:
        """Delete every event and head (control-API reset); live subscribers are ended."""

        def run(conn: Connection, emit: Emit) -> None:
            conn.exec_driver_sql("DELETE FROM stream_events")
            conn.exec_driver_sql("DELETE FROM stream_heads")
            self.sequencer.forget_streams()

        await self.sequencer.transact(run)
        self.hub.clear("reset")
