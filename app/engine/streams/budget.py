"""The byte budget of all rings together (CONTRACT §1.3, `REFSERVER_RING_MAX_BYTES`).

Each ring is bounded by count and retention; this bounds them all at once, so memory does not
grow with the number of streams. Every event a ring takes is charged (its stored bytes plus a
fixed cost for the objects around them; a ring's first event also pays for the ring) and
remembered in one server-wide commit order. Past the budget the hub drops the oldest events of
the whole server first (`Hub.publish`); they stay in SQL, so a replay of that range falls back
to the database with the same bytes.

The commit order may hold events a ring already dropped by itself (count, retention, a seq
jump): those are skipped when met, and the order is compacted once stale entries outnumber
the live ones, so it stays proportional to what the rings hold.
"""

from __future__ import annotations

from collections import deque

from app.engine.streams.event import Event

EVENT_COST = 200  # bytes: the Event tuple, its bytes object header, ints, deque slots
RING_COST = 1_024  # bytes: a non-empty ring's state, ring and deque block


class RingBudget:
    __slots__ = ("evicted", "held", "max_bytes", "order", "used")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0  # bytes charged for what the rings hold now
        self.held = 0  # events the rings hold now
        self.evicted = 0  # events dropped for the budget (observability)
        self.order: deque[Event] = deque()  # held events (and stale ones), oldest commit first

    def added(self, event: Event, first: bool) -> None:
        self.used += len(event.data) + EVENT_COST + (RING_COST if first else 0)
        self.held += 1
        self.order.append(event)

    def removed(self, event: Event, last: bool) -> None:
        self.used -= len(event.data) + EVENT_COST + (RING_COST if last else 0)
        self.held -= 1

    @property
    def over(self) -> bool:
        return self.used > self.max_bytes

    @property
    def needs_compaction(self) -> bool:
        return len(self.order) > 2 * self.held + 4096

    def clear(self) -> None:
        self.used = self.held = 0
        self.order.clear()


__all__ = ["EVENT_COST", "RING_COST", "RingBudget"]
