"""The ring: a stream's most recent committed events, in memory.

Invariants (asserted in `append`):
- events are contiguous: `events[i].seq == first_seq + i`;
- `len(events) <= max_events`;
- `last_seq` is the highest seq this ring knows to be committed, even when it holds no events
  (after expiry, or when created from a database head after a restart).
Retention is judged at read time on the domain clock: an event older than `retention_ms` is
never served, even when nothing newer has arrived. Every event taken and dropped is reported to
the server-wide byte budget (`budget.py`), which may also drop the oldest (`drop_oldest`).
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from app.engine.streams.budget import RingBudget
from app.engine.streams.event import Event


class Ring:
    __slots__ = ("_events", "budget", "last_seq", "max_events", "retention_ms")

    def __init__(
        self, *, max_events: int, retention_ms: int, last_seq: int = 0, budget: RingBudget | None = None
    ) -> None:
        self.max_events = max_events
        self.retention_ms = retention_ms
        self.last_seq = last_seq
        self.budget = budget
        self._events: deque[Event] = deque()

    def __len__(self) -> int:
        return len(self._events)

    @property
    def first_seq(self) -> int:
        """The oldest seq held; `last_seq + 1` when empty."""
        return self._events[0].seq if self._events else self.last_seq + 1

    def append(self, event: Event) -> None:
        if event.seq <= self.last_seq:
            return  # already held, or known committed and older than what we hold
        events = self._events
        if event.seq != self.last_seq + 1:
            # another writer filled the seqs in between: what we hold is no longer contiguous
            while events:
                self._drop()
        events.append(event)
        self.last_seq = event.seq
        if self.budget is not None:
            self.budget.added(event, len(events) == 1)
        if len(events) > self.max_events:
            self._drop()
        assert events[0].seq + len(events) - 1 == self.last_seq

    def _drop(self) -> None:
        event = self._events.popleft()
        if self.budget is not None:
            self.budget.removed(event, not self._events)

    def drop_oldest(self, event: Event) -> bool:
        """Drop `event` if it is the oldest held (the byte budget's eviction)."""
        if self._events and self._events[0] is event:
            self._drop()
            return True
        return False

    def holds(self, event: Event) -> bool:
        events = self._events
        return bool(events) and events[0].seq <= event.seq <= self.last_seq

    def expire(self, now_ms: int) -> None:
        cutoff = now_ms - self.retention_ms
        ev = self._events
        while ev and ev[0].ts_ms < cutoff:
            self._drop()

    def since(self, seq: int, now_ms: int, limit: int | None = None) -> list[Event] | None:
        """Events with seq >= `seq` (at most `limit`), or None when part of that range has left
        the ring (ask SQL). A seq beyond `last_seq` answers an empty list."""
        self.expire(now_ms)
        if seq > self.last_seq:
            return []
        first = self.first_seq
        if seq < first:
            return None
        start = seq - first
        stop = None if limit is None else start + limit
        return list(islice(self._events, start, stop))
