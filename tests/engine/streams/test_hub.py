"""The hub: fan-out to subscribers, the replay/live seam, slow consumers, control."""

from __future__ import annotations

import asyncio

import pytest

from app.engine.streams import NewEvent, SlowConsumer, StreamClosed
from tests.engine.streams.helpers import FAM, open_streams, take

pytestmark = pytest.mark.anyio


async def test_subscription_seam_has_no_gap_and_no_duplicate(db_url: str) -> None:
    """Subscribing from an old seq while appends continue: every seq exactly once, in order."""
    async with open_streams(db_url, ring_max_events=50) as s:
        await s.append_many([NewEvent(FAM, "seam", "x", {"i": i}) for i in range(200)])
        sub = await s.subscribe(FAM, "seam", from_seq=3)
        assert sub.source == "mixed"

        async def more() -> None:
            for i in range(100):
                await s.append(FAM, "seam", "x", {"j": i})

        task = asyncio.create_task(more())
        seen: list[int] = []
        while len(seen) < 298:
            seen.extend(e.seq for e in await asyncio.wait_for(sub.next_batch(), 5))
        await task
        assert seen == list(range(3, 301))
        sub.close()


async def test_slow_consumer_is_detached_and_others_keep_up(sqlite_url: str) -> None:
    """A stalled subscriber: bounded queue, others get everything, then it is told (or caught up)."""
    async with open_streams(sqlite_url, queue_max=10) as s:
        fast = await s.subscribe(FAM, "slow", queue_max=10_000)
        stalled_close = await s.subscribe(FAM, "slow", catch_up=False)
        stalled_catch = await s.subscribe(FAM, "slow", catch_up=True)
        got: list[int] = []

        async def consume() -> None:
            while len(got) < 500:
                got.extend(e.seq for e in await fast.next_batch())

        consumer = asyncio.create_task(consume())
        for i in range(50):
            await s.append_many([NewEvent(FAM, "slow", "x", {"i": i, "k": k}) for k in range(10)])
            assert stalled_close.queued <= 10 and stalled_catch.queued <= 10
        await asyncio.wait_for(consumer, 20)
        assert got == list(range(1, 501))
        with pytest.raises(SlowConsumer) as info:
            await stalled_close.next_batch()
        assert info.value.next_seq == 1
        assert s.subscriber_count(FAM, "slow") == 2
        caught: list[int] = []
        while len(caught) < 500:
            caught.extend(e.seq for e in await asyncio.wait_for(stalled_catch.next_batch(), 20))
        assert caught == list(range(1, 501))
        fast.close()
        stalled_catch.close()


async def test_disconnect_and_skip(sqlite_url: str) -> None:
    """disconnect ends live subscribers; skip withholds events from live delivery only."""
    async with open_streams(sqlite_url) as s:
        sub = await s.subscribe(FAM, "c")
        await s.skip(FAM, "c", 2)
        await s.append_many([NewEvent(FAM, "c", "x", {"i": i}) for i in range(4)])
        batch = await asyncio.wait_for(sub.next_batch(), 2)
        assert [e.seq for e in batch] == [3, 4]  # a real gap: 1 and 2 were withheld
        assert [e.seq for e in (await s.read(FAM, "c", 1, 10)).events] == [1, 2, 3, 4]
        assert s.disconnect(FAM, "c") == 1
        with pytest.raises(StreamClosed):
            await asyncio.wait_for(sub.next_batch(), 2)


async def test_a_reader_that_keeps_up_receives_a_six_thousand_event_commit_in_full(db_url: str) -> None:
    """Regression (a cancel-all of 6,000 orders closed a live WebSocket with 4008): one commit
    larger than the subscriber queue bound reaches a reader that keeps up in full, twice."""
    async with open_streams(db_url, queue_max=4096) as s:
        sub = await s.subscribe(FAM, "burst", catch_up=False)  # as the transports subscribe
        for burst in range(2):
            base = burst * 6000
            await s.append_many([NewEvent(FAM, "burst", "x", {"i": i}) for i in range(6000)])
            got = await take(sub, 6000, within_s=20)
            assert [e.seq for e in got] == list(range(base + 1, base + 6001))
            assert sub.queued == 0 and not sub.lagged
        sub.close()


async def test_a_reader_that_never_reads_is_still_cut_off(db_url: str) -> None:
    """The bound is on what is left unread: a burst left unread and one more commit detach the
    subscriber (queue dropped: memory bounded), and its next read says where to resume."""
    async with open_streams(db_url, queue_max=4096) as s:
        idle = await s.subscribe(FAM, "burst", catch_up=False)
        await s.append_many([NewEvent(FAM, "burst", "x", {"i": i}) for i in range(6000)])
        assert idle.queued == 6000 and not idle.lagged
        await s.append(FAM, "burst", "x", {"i": "one more"})
        assert idle.lagged and idle.queued == 0
        with pytest.raises(SlowConsumer) as info:
            await idle.next_batch()
        assert info.value.next_seq == 1
        assert s.subscriber_count(FAM, "burst") == 0


async def test_unread_small_commits_add_up_to_the_bound(sqlite_url: str) -> None:
    """Many small commits left unread count together: past `queue_max` unread, the next commit
    detaches the reader, as a single big one would."""
    async with open_streams(sqlite_url, queue_max=10) as s:
        idle = await s.subscribe(FAM, "small", catch_up=False)
        for i in range(10):
            await s.append(FAM, "small", "x", {"i": i})
        assert idle.queued == 10 and not idle.lagged
        await s.append(FAM, "small", "x", {"i": 10})
        assert idle.lagged and idle.queued == 0
