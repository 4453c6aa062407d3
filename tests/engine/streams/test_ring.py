"""The ring: contiguous recent events, bounded by count and by retention on the domain clock."""

from __future__ import annotations

from app.engine.streams import Event
from app.engine.streams.ring import Ring


def ev(seq: int, ts_ms: int = 0, data: bytes = b"{}") -> Event:
    return Event("f", "s", seq, ts_ms, "x", None, data)


def test_ring_keeps_the_newest_max_events_contiguous() -> None:
    """Past `max_events` the oldest leave; what remains is contiguous up to `last_seq`."""
    ring = Ring(max_events=3, retention_ms=1000)
    for s in range(1, 6):
        ring.append(ev(s))
    assert len(ring) == 3 and ring.first_seq == 3 and ring.last_seq == 5
    assert [e.seq for e in ring.since(3, 0) or []] == [3, 4, 5]


def test_since_says_gone_below_the_ring_and_empty_beyond_the_head() -> None:
    """`since` answers None when part of the range left the ring (ask SQL), [] past the head."""
    ring = Ring(max_events=3, retention_ms=1000)
    for s in range(1, 6):
        ring.append(ev(s))
    assert ring.since(2, 0) is None
    assert ring.since(6, 0) == []
    assert [e.seq for e in ring.since(4, 0, limit=1) or []] == [4]


def test_retention_is_judged_at_read_time_on_the_domain_clock() -> None:
    """An event older than `retention_ms` is never served, even with nothing newer since."""
    ring = Ring(max_events=10, retention_ms=100)
    ring.append(ev(1, ts_ms=1000))
    ring.append(ev(2, ts_ms=1050))
    assert [e.seq for e in ring.since(1, 1100) or []] == [1, 2]
    assert ring.since(1, 1101) is None  # seq 1 expired: ask SQL
    assert [e.seq for e in ring.since(2, 1101) or []] == [2]
    assert ring.since(2, 1151) is None and len(ring) == 0 and ring.last_seq == 2


def test_a_ring_made_from_a_database_head_is_empty_but_knows_the_head() -> None:
    """After a restart the ring holds nothing yet knows the committed head (reads go to SQL)."""
    ring = Ring(max_events=10, retention_ms=100, last_seq=7)
    assert len(ring) == 0 and ring.first_seq == 8
    assert ring.since(3, 0) is None and ring.since(8, 0) == []
    ring.append(ev(8))
    assert ring.first_seq == 8 and [e.seq for e in ring.since(8, 0) or []] == [8]


def test_a_jump_in_seq_drops_what_is_no_longer_contiguous() -> None:
    """Another writer filled seqs in between: the ring restarts at the new event."""
    ring = Ring(max_events=10, retention_ms=1000)
    ring.append(ev(1))
    ring.append(ev(2))
    ring.append(ev(5))
    assert ring.first_seq == 5 and ring.last_seq == 5
    assert ring.since(3, 0) is None


def test_an_event_already_held_is_not_appended_twice() -> None:
    """A seq at or below `last_seq` is ignored: no duplicate in the ring."""
    ring = Ring(max_events=10, retention_ms=1000)
    ring.append(ev(1))
    ring.append(ev(2))
    ring.append(ev(2))
    ring.append(ev(1))
    assert [e.seq for e in ring.since(1, 0) or []] == [1, 2]
