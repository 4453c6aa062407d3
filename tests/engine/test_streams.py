"""The streams engine: DB-first sequencing, ring, replay and fan-out, on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.clock import DomainClock
from app.db import Database
from app.engine.streams import NewEvent, SlowConsumer, StreamClosed, Streams

pytestmark = pytest.mark.anyio

FAM = "order-entry"


@contextlib.asynccontextmanager
async def open_streams(url: str, **kw: int) -> AsyncIterator[Streams]:
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


async def test_append_allocates_contiguous_seqs_from_one(db_url: str) -> None:
    """Appends on a stream get 1, 2, 3…; streams are independent; bytes are stored as sent."""
    async with open_streams(db_url) as s:
        a = [await s.append(FAM, "a", "x", {"i": i}) for i in range(5)]
        b = await s.append_many([NewEvent(FAM, "b", "x", {"i": i}) for i in range(3)])
        assert [e.seq for e in a] == [1, 2, 3, 4, 5]
        assert [e.seq for e in b] == [1, 2, 3]
        assert a[2].data == b'{"i":2}'
        assert sql_seqs(s.db, "a") == [1, 2, 3, 4, 5]
        assert await s.head(FAM, "a") == 5


async def test_fifty_concurrent_writers_over_twenty_streams(db_url: str) -> None:
    """50 concurrent writers over 20 streams: every stream contiguous from 1, no duplicate."""
    async with open_streams(db_url) as s:
        rng = random.Random(7)
        acked: dict[str, list[int]] = {f"s{i}": [] for i in range(20)}

        async def writer(w: int) -> None:
            for i in range(40):
                stream = f"s{rng.randrange(20)}"
                if i % 3 == 0:
                    evs = await s.append_many(
                        [NewEvent(FAM, stream, "x", {"w": w, "i": i, "k": k}) for k in range(3)]
                    )
                else:
                    evs = [await s.append(FAM, stream, "x", {"w": w, "i": i})]
                acked[stream].extend(e.seq for e in evs)

        await asyncio.gather(*(writer(w) for w in range(50)))
        total = 0
        for stream, seqs in acked.items():
            stored = sql_seqs(s.db, stream)
            assert stored == list(range(1, len(stored) + 1)), stream
            assert sorted(seqs) == stored, stream
            total += len(stored)
        assert total == sum(len(v) for v in acked.values())
        assert s.sequencer.batches < total  # group commit: fewer transactions than events


async def test_two_writers_on_one_database_stay_contiguous(db_url: str) -> None:
    """Two independent sequencers (as two processes would) on one database never break contiguity."""
    async with open_streams(db_url) as s1, open_streams(db_url) as s2:

        async def writer(s: Streams, n: int) -> list[int]:
            out = []
            for i in range(n):
                out.append((await s.append(FAM, "shared", "x", {"i": i})).seq)
            return out

        got = await asyncio.gather(*(writer(s1 if w % 2 else s2, 30) for w in range(8)))
        stored = sql_seqs(s1.db, "shared")
        assert stored == list(range(1, 241))
        assert sorted(x for g in got for x in g) == stored


async def test_failed_commit_is_invisible_and_skips_no_seq(db_url: str) -> None:
    """DB-first: a failed commit reaches no subscriber, and the next append reuses the seq."""
    async with open_streams(db_url) as s:
        await s.append(FAM, "a", "x", {"i": 1})
        sub = await s.subscribe(FAM, "a")

        def boom(_conn: object) -> None:
            raise RuntimeError("disk on fire")

        s.sequencer.before_commit = boom
        with pytest.raises(RuntimeError):
            await s.append(FAM, "a", "x", {"i": "lost"})
        s.sequencer.before_commit = None
        ev = await s.append(FAM, "a", "x", {"i": 2})
        assert ev.seq == 2
        batch = await asyncio.wait_for(sub.next_batch(), 2)
        assert [(e.seq, e.data) for e in batch] == [(2, b'{"i":2}')]
        assert sql_seqs(s.db, "a") == [1, 2]
        sub.close()


async def test_transact_rolls_back_only_the_failing_unit(sqlite_url: str) -> None:
    """A unit whose function raises is rolled back alone; its batch-mates commit."""
    async with open_streams(sqlite_url) as s:

        def good(conn: object, emit: object) -> str:
            emit(FAM, "t", "ok", {"v": 1})  # type: ignore[operator]
            return "done"

        def bad(conn: object, emit: object) -> None:
            emit(FAM, "t", "bad", {"v": 2})  # type: ignore[operator]
            raise ValueError("refused")

        results = await asyncio.gather(
            s.transact(good), s.transact(bad), s.transact(good), return_exceptions=True
        )
        assert results[0] == "done" and results[2] == "done"
        assert isinstance(results[1], ValueError)
        assert sql_seqs(s.db, "t") == [1, 2]


async def test_replay_reports_ring_sql_and_mixed(db_url: str) -> None:
    """A read inside the ring says ring; older says sql; straddling says mixed; bytes identical."""
    async with open_streams(db_url, ring_max_events=5, ring_retention_ms=10_000) as s:
        await s.append_many([NewEvent(FAM, "r", "x", {"i": i}) for i in range(1, 21)])
        ring = await s.read(FAM, "r", 18, 100)
        assert ring.source == "ring" and [e.seq for e in ring.events] == [18, 19, 20]
        sql = await s.read(FAM, "r", 3, 5)
        assert sql.source == "sql" and [e.seq for e in sql.events] == [3, 4, 5, 6, 7]
        mixed = await s.read(FAM, "r", 10, 100)
        assert mixed.source == "mixed" and [e.seq for e in mixed.events] == list(range(10, 21))
        assert [e.data for e in mixed.events] == [f'{{"i":{i}}}'.encode() for i in range(10, 21)]
        # retention on the domain clock: after it passes, nothing is served from the ring
        await s.clock.advance(10_001)
        late = await s.read(FAM, "r", 18, 100)
        assert late.source == "sql" and [e.seq for e in late.events] == [18, 19, 20]


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


async def test_restart_resumes_sequence_and_reads_from_sql(db_url: str) -> None:
    """After a restart (empty rings) the next append continues at head+1 and old reads come from SQL."""
    async with open_streams(db_url) as s:
        await s.append_many([NewEvent(FAM, "p", "x", {"i": i}) for i in range(7)])
    async with open_streams(db_url) as s:
        assert await s.head(FAM, "p") == 7
        sub = await s.subscribe(FAM, "p", from_seq=5)
        assert sub.source == "sql"
        ev = await s.append(FAM, "p", "x", {"i": 7})
        assert ev.seq == 8
        seen: list[int] = []
        while len(seen) < 4:
            seen.extend(e.seq for e in await asyncio.wait_for(sub.next_batch(), 2))
        assert seen == [5, 6, 7, 8]
        sub.close()


# --- property: any interleaving returns exactly the committed events ----------------------------
ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 2), st.integers(1, 7)),
        st.tuples(st.just("advance"), st.integers(0, 1500)),
        st.tuples(st.just("read"), st.integers(0, 2), st.integers(1, 40), st.integers(1, 30)),
        st.tuples(st.just("subscribe"), st.integers(0, 2), st.integers(1, 40)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=ops)
async def test_any_interleaving_reads_exactly_the_committed_events(
    sqlite_url: str, program: list[tuple[int | str, ...]]
) -> None:
    """Appends, retention expiry and reads from any seq: exactly the committed events >= seq,
    in order, with identical bytes whichever source served them (ring, sql or mixed)."""
    import uuid

    run = uuid.uuid4().hex[:8]
    names = [f"{run}-{i}" for i in range(3)]
    model: dict[str, list[bytes]] = {n: [] for n in names}
    counter = 0
    async with open_streams(sqlite_url, ring_max_events=6, ring_retention_ms=1000) as s:
        for op in program:
            if op[0] == "append":
                name = names[int(op[1])]
                bodies = []
                for _ in range(int(op[2])):
                    counter += 1
                    bodies.append({"n": counter})
                evs = await s.append_many([NewEvent(FAM, name, "x", b) for b in bodies])
                assert [e.seq for e in evs] == list(
                    range(len(model[name]) + 1, len(model[name]) + 1 + len(bodies))
                )
                model[name].extend(e.data for e in evs)
            elif op[0] == "advance":
                await s.clock.advance(int(op[1]))
            elif op[0] == "read":
                name, frm, lim = names[int(op[1])], int(op[2]), int(op[3])
                res = await s.read(FAM, name, frm, lim)
                expect = model[name][frm - 1 : frm - 1 + lim]
                assert [e.seq for e in res.events] == list(range(frm, frm + len(expect)))
                assert [e.data for e in res.events] == expect
                assert res.source in ("ring", "sql", "mixed")
            else:
                name, frm = names[int(op[1])], int(op[2])
                sub = await s.subscribe(FAM, name, from_seq=frm)
                expect = model[name][frm - 1 :]
                got: list[bytes] = []
                while len(got) < len(expect):
                    got.extend(e.data for e in await asyncio.wait_for(sub.next_batch(), 2))
                assert got == expect
                sub.close()
        # a fresh process (empty rings) serves the same bytes from SQL
    async with open_streams(sqlite_url) as fresh:
        for name in names:
            res = await fresh.read(FAM, name, 1, 1000)
            assert [e.data for e in res.events] == model[name]


async def test_bytes_bodies_bypass_the_family_encoder(sqlite_url: str) -> None:
    """A family encoder shapes dict bodies (it sees the seq); a bytes body is stored exactly as given."""
    async with open_streams(sqlite_url) as s:
        s.register_encoder(FAM, lambda seq, prev, ts, kind, body: b'{"seq":%d,"prev":%d}' % (seq, prev))
        a = await s.append(FAM, "enc", "x", {"ignored": True})
        b = await s.append(FAM, "enc", "x", b'["raw"]')
        assert (a.data, b.data) == (b'{"seq":1,"prev":0}', b'["raw"]')
