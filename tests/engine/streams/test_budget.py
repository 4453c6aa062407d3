"""The byte budget of all rings: the server's oldest events leave memory first, replay falls
back to SQL with the same bytes, and idle stream states do not pile up."""

from __future__ import annotations

import asyncio

import pytest

from app.engine.streams import NewEvent, Streams
from app.engine.streams.budget import EVENT_COST, RING_COST
from tests.conftest import wait_for
from tests.engine.streams.helpers import FAM, open_streams, take

pytestmark = pytest.mark.anyio

BUDGET = 100_000


def ring_bytes(s: Streams) -> int:
    """What the rings hold, counted from the rings themselves."""
    total = 0
    for state in s.hub.states.values():
        held = state.ring.since(state.ring.first_seq, s.clock.now_ms()) or []
        total += sum(len(e.data) + EVENT_COST for e in held) + (RING_COST if held else 0)
    return total


def body(stream: int, i: int) -> dict[str, object]:
    return {"stream": stream, "i": i, "pad": "x" * 400}


async def test_the_budget_holds_across_many_streams_oldest_first(db_url: str) -> None:
    """Regression (memory grew with the number of streams): 300 streams × 10 events of ~450 B
    (~2 MB) under a 100 kB budget: the rings hold at most the budget, the newest streams keep
    their events, the oldest streams lost theirs first."""
    async with open_streams(db_url, ring_max_bytes=BUDGET) as s:
        for k in range(300):
            await s.append_many([NewEvent(FAM, f"m{k}", "x", body(k, i)) for i in range(10)])
            assert s.hub.budget.used <= BUDGET
        assert ring_bytes(s) == s.hub.budget.used <= BUDGET
        assert len(s.hub.states[(FAM, "m299")].ring) == 10  # the newest: all in memory
        assert len(s.hub.states[(FAM, "m0")].ring) == 0  # the oldest: left first
        assert s.hub.budget.evicted > 0
        assert len(s.hub.budget.order) <= 2 * s.hub.budget.held + 4096


async def test_replay_of_an_evicted_range_comes_from_sql_with_identical_bytes(db_url: str) -> None:
    """Events the budget pushed out of memory are read (and replayed to a subscriber) from SQL,
    byte for byte what was committed; what is still in memory comes from the ring."""
    async with open_streams(db_url, ring_max_bytes=BUDGET) as s:
        first = await s.append_many([NewEvent(FAM, "old", "x", body(0, i)) for i in range(20)])
        for k in range(1, 200):
            await s.append_many([NewEvent(FAM, f"n{k}", "x", body(k, i)) for i in range(5)])
        assert len(s.hub.states[(FAM, "old")].ring) == 0
        res = await s.read(FAM, "old", 1, 100)
        assert res.source == "sql"
        assert [(e.seq, e.data) for e in res.events] == [(e.seq, e.data) for e in first]
        sub = await s.subscribe(FAM, "old", from_seq=1)
        assert sub.source == "sql"
        assert [e.data for e in await take(sub, 20)] == [e.data for e in first]
        sub.close()
        recent = await s.read(FAM, "n199", 1, 100)
        assert recent.source == "ring" and len(recent.events) == 5


async def test_a_budget_smaller_than_one_commit_still_delivers_it_live(sqlite_url: str) -> None:
    """Memory pressure never costs a live reader its events: the commit is queued to the
    subscriber whole even when the rings cannot keep it."""
    async with open_streams(sqlite_url, ring_max_bytes=1_000) as s:
        sub = await s.subscribe(FAM, "tiny", catch_up=False)
        await s.append_many([NewEvent(FAM, "tiny", "x", body(0, i)) for i in range(50)])
        assert [e.seq for e in await take(sub, 50)] == list(range(1, 51))
        assert s.hub.budget.used <= 1_000
        sub.close()


async def test_idle_stream_states_are_dropped_and_reload_their_head(sqlite_url: str) -> None:
    """Regression (one state object per stream ever touched, forever): reads of thousands of
    streams keep the state table bounded; a dropped stream continues at its committed head;
    a stream with a subscriber or a pending skip is never dropped."""
    async with open_streams(sqlite_url, ring_max_bytes=20_000, ring_retention_ms=1_000) as s:
        s.hub.sweep_min = 16
        s.hub.sweep()
        kept = await s.subscribe(FAM, "watched")
        await s.skip(FAM, "skipped", 1)
        await s.append_many([NewEvent(FAM, "cold", "x", {"i": i}) for i in range(3)])
        await s.clock.advance(1_001)  # retention passes: "cold" keeps nothing in memory
        for k in range(200):
            await s.read(FAM, f"empty{k}", 1, 10)
            assert len(s.hub.states) <= 2 * 16 + 1
        assert s.hub.sweeps > 0
        assert (FAM, "cold") not in s.hub.states
        assert (FAM, "watched") in s.hub.states and (FAM, "skipped") in s.hub.states
        ev = await s.append(FAM, "cold", "x", {"i": 3})
        assert ev.seq == 4 and await s.head(FAM, "cold") == 4
        await s.append(FAM, "watched", "x", {"i": 0})
        assert [e.seq for e in await take(kept, 1)] == [1]
        kept.close()


async def test_a_head_loaded_across_a_sweep_is_loaded_again(sqlite_url: str) -> None:
    """A state created by a commit while a head was being loaded, then swept, is not replaced
    by the stale head: the next subscriber starts after every committed event."""
    async with open_streams(sqlite_url) as s:
        real_read = s.db.read
        gate = asyncio.Event()
        calls = 0

        async def slow_read(fn):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            head = await real_read(fn)
            if calls == 1:
                await gate.wait()
            return head

        s.db.read = slow_read  # type: ignore[method-assign]
        loading = asyncio.create_task(s.head(FAM, "race"))
        await asyncio.sleep(0)
        await s.append(FAM, "race", "x", {"i": 1})  # commit lands while the head (0) is in flight
        s.hub.states[(FAM, "race")].ring.expire(s.clock.now_ms() + 10**9)  # empty ring
        s.hub.sweep()  # the state made by the commit is dropped
        gate.set()
        assert await asyncio.wait_for(loading, 5) == 1
        assert calls == 2


async def test_an_idle_server_gives_back_what_retention_has_passed(sqlite_url: str) -> None:
    """Regression (memory held while idle): with no read at all, events past retention leave
    memory and the idle stream's state is dropped, by the periodic sweep."""
    async with open_streams(sqlite_url, ring_retention_ms=1_000, sweep_every_s=0.01) as s:
        await s.append_many([NewEvent(FAM, "quiet", "x", body(0, i)) for i in range(10)])
        assert s.hub.budget.used > 0
        await s.clock.advance(1_001)
        await wait_for(lambda: s.hub.budget.used == 0 and (FAM, "quiet") not in s.hub.states)
        assert [e.seq for e in (await s.read(FAM, "quiet", 1, 100)).events] == list(range(1, 11))
