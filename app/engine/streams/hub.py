"""Fan-out: committed events to live subscribers, each with a bounded queue.

A subscription starts at any seq: it first replays what it missed (ring, then SQL), then
delivers live events, with no gap and no duplicate across the seam — every delivery passes the
`seq >= cursor` check, and live events are queued from the instant the subscription registers,
which happens in the same event-loop step that reads the head.

Slow consumers (CONTRACT §1.5): the bound is on what a subscriber leaves unread, not on the
size of one commit. Each commit reaches a subscriber as one queue entry (the list of that
stream's events, shared by every subscriber), so a reader that keeps up receives a burst of any
size in full. A commit that finds `queue_max` events or more still unread detaches the
subscriber from live delivery at once (its queue is dropped, so memory stays bounded and nobody
waits for it). With `catch_up=True` its next read re-replays from its cursor (ring/SQL) and
re-attaches; with `catch_up=False` its next read raises `SlowConsumer(next_seq)` so the
transport can say so (WebSocket close 4008, Order Entry `resync_required`, SSE end).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.engine.streams.budget import RingBudget
from app.engine.streams.event import Event
from app.engine.streams.ring import Ring

if TYPE_CHECKING:
    from app.engine.streams.replay import ReadResult


class StreamEnded(Exception):
    """The subscription is over; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SlowConsumer(StreamEnded):
    def __init__(self, next_seq: int) -> None:
        super().__init__("slow consumer")
        self.next_seq = next_seq


class StreamClosed(StreamEnded):
    """Closed by the server: control-API disconnect, reset or shutdown."""


class StreamState:
    """Everything the process holds for one stream."""

    __slots__ = ("family", "ring", "skip", "stream", "subscribers")

    def __init__(self, family: str, stream: str, ring: Ring) -> None:
        self.family = family
        self.stream = stream
        self.ring = ring
        self.subscribers: set[Subscription] = set()
        self.skip = 0

    @property
    def head(self) -> int:
        return self.ring.last_seq


Reader = Callable[[StreamState, int, int], Awaitable["ReadResult"]]


class Subscription:
    """One subscriber of one stream. Consume with `await next_batch()` until it raises."""

    def __init__(
        self,
        state: StreamState,
        *,
        cursor: int,
        target: int,
        reader: Reader,
        queue_max: int,
        catch_up: bool,
        page: int = 1000,
    ) -> None:
        self.state = state
        self.cursor = cursor  # the next seq this subscriber expects
        self.target = target  # replay from SQL/ring up to here before the live queue
        self.source = "live"
        self.queue_max = queue_max
        self.catch_up = catch_up
        self.page = page
        self._reader = reader
        self._pending: deque[list[Event]] = deque()  # one entry per commit
        self._unread = 0  # events in `_pending`
        self._waiter: asyncio.Future[None] | None = None
        self.lagged = False
        self.on_lag: Callable[[], None] | None = None  # told when live delivery detaches it
        self.ended: StreamEnded | None = None

    # called by the hub, on the event loop, once per commit with that commit's events of the stream
    def push(self, events: list[Event]) -> None:
        if self.lagged:
            return
        if self._unread >= self.queue_max:  # a full queue left unread: detach
            self._pending.clear()
            self._unread = 0
            self.lagged = True
            if self.on_lag is not None:
                self.on_lag()
        else:
            self._pending.append(events)
            self._unread += len(events)
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def end(self, reason: StreamEnded) -> None:
        if self.ended is None:
            self.ended = reason
        self._pending.clear()
        self._unread = 0
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def close(self) -> None:
        """The consumer is done; stop queueing for it."""
        self.state.subscribers.discard(self)
        self.end(StreamClosed("closed"))

    @property
    def queued(self) -> int:
        """Events queued and not yet taken."""
        return self._unread

    async def next_batch(self) -> list[Event]:
        """The next events in seq order (at least one); raises `StreamEnded` when over."""
        while True:
            if self.ended is not None:
                self.state.subscribers.discard(self)
                raise self.ended
            if self.lagged:
                if not self.catch_up:
                    self.state.subscribers.discard(self)
                    self.ended = SlowConsumer(self.cursor)
                    raise self.ended
                # re-attach: replay cursor..head, then live again
                self.lagged = False
                self._pending.clear()
                self._unread = 0
                self.target = self.state.head
            if self.cursor <= self.target:
                want = min(self.page, self.target - self.cursor + 1)
                result = await self._reader(self.state, self.cursor, want)
                events = [e for e in result.events if e.seq >= self.cursor]
                if events:
                    self.cursor = events[-1].seq + 1
                    return events
                # nothing readable (e.g. the range is gone everywhere): skip to live
                self.target = self.cursor - 1
                continue
            pending = self._pending
            if pending:
                cursor = self.cursor
                events = [e for entry in pending for e in entry if e.seq >= cursor]
                pending.clear()
                self._unread = 0
                if events:
                    self.cursor = events[-1].seq + 1
                    return events
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            await waiter


class Hub:
    """Holds each stream's state; publishes committed events to rings and subscribers.

    Memory stays bounded whatever the number of streams: all rings share one byte budget
    (`budget.py`), and the state of a stream with no subscriber, no pending skip and an empty
    ring is dropped by a sweep when the table doubles (`Streams.state` reloads it from the
    database head on demand).
    """

    def __init__(
        self,
        *,
        ring_max_events: int,
        ring_retention_ms: int,
        queue_max: int,
        ring_max_bytes: int = 64 * 1024 * 1024,
        now_ms: Callable[[], int] = lambda: 0,
        sweep_min: int = 1024,
    ) -> None:
        self.ring_max_events = ring_max_events
        self.ring_retention_ms = ring_retention_ms
        self.queue_max = queue_max
        self.now_ms = now_ms
        self.budget = RingBudget(ring_max_bytes)
        self.states: dict[tuple[str, str], StreamState] = {}
        self.sweeps = 0  # how many sweeps ran (a head loaded across a sweep is reloaded)
        self.sweep_min = sweep_min  # never sweep a smaller table
        self._sweep_at = sweep_min

    def new_state(self, family: str, stream: str, head: int) -> StreamState:
        if len(self.states) >= self._sweep_at:
            self.sweep()
        ring = Ring(
            max_events=self.ring_max_events,
            retention_ms=self.ring_retention_ms,
            last_seq=head,
            budget=self.budget,
        )
        state = StreamState(family, stream, ring)
        self.states[(family, stream)] = state
        return state

    def sweep(self) -> int:
        """Drop the state of every stream nobody needs in memory: no subscriber, no pending
        skip, nothing left in its ring once retention is applied. Returns how many."""
        now = self.now_ms()
        idle = []
        for key, state in self.states.items():
            if state.subscribers or state.skip:
                continue
            state.ring.expire(now)
            if not len(state.ring):
                idle.append(key)
        for key in idle:
            del self.states[key]
        self.sweeps += 1
        self._sweep_at = max(self.sweep_min, 2 * len(self.states))
        return len(idle)

    def _enforce_budget(self) -> None:
        """The oldest events of the whole server leave memory first (they stay in SQL)."""
        budget, states = self.budget, self.states
        order = budget.order
        while budget.over and order:
            ev = order.popleft()
            state = states.get((ev.family, ev.stream))
            if state is not None and state.ring.drop_oldest(ev):
                budget.evicted += 1
        if budget.needs_compaction:
            budget.order = deque(e for e in order if self._held(e))

    def _held(self, event: Event) -> bool:
        state = self.states.get((event.family, event.stream))
        return state is not None and state.ring.holds(event)

    def publish(self, events: list[Event]) -> None:
        """Committed events, in seq order per stream: ring first, then every subscriber, which
        gets each stream's share of the commit as one entry."""
        by_stream: dict[tuple[str, str], list[Event]] = {}
        for ev in events:
            key = (ev.family, ev.stream)
            share = by_stream.get(key)
            if share is None:
                by_stream[key] = [ev]
            else:
                share.append(ev)
        states = self.states
        for key, share in by_stream.items():
            state = states.get(key)
            if state is None:
                state = self.new_state(key[0], key[1], share[0].seq - 1)
            ring = state.ring
            for ev in share:
                ring.append(ev)
            if state.skip:
                withheld = min(state.skip, len(share))
                state.skip -= withheld
                share = share[withheld:]
                if not share:
                    continue
            for sub in state.subscribers:
                sub.push(share)
        if self.budget.over or self.budget.needs_compaction:
            self._enforce_budget()

    def disconnect(self, family: str, stream: str, reason: str = "disconnected") -> int:
        state = self.states.get((family, stream))
        if state is None:
            return 0
        subs = list(state.subscribers)
        state.subscribers.clear()
        for sub in subs:
            sub.end(StreamClosed(reason))
        return len(subs)

    def clear(self, reason: str = "reset") -> None:
        for state in self.states.values():
            for sub in list(state.subscribers):
                sub.end(StreamClosed(reason))
            state.subscribers.clear()
        self.states.clear()
        self.budget.clear()
