"""The sequencer: DB-first, group-committed appends with contiguous per-stream seqs."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import text

from app.clock import DomainClock
from app.db import Database
from app.engine.streams import NewEvent, Streams
from tests.conftest import wait_for
from tests.engine.streams.helpers import FAM, open_streams, sql_seqs

pytestmark = pytest.mark.anyio


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
    async with open_streams(db_url) as s1:
        # the first writer's connection switches a fresh SQLite file to WAL: let it finish before
        # the second process starts, as a server's start-up does (the race of two first
        # connections is the WAL switch's own business, see app/db.py)
        await s1.append(FAM, "warm-up", "x", {})
        async with open_streams(db_url) as s2:
            await s2.append(FAM, "warm-up", "x", {})

            async def writer(s: Streams, n: int) -> list[int]:
                out = []
                for i in range(n):
                    out.append((await s.append(FAM, "shared", "x", {"i": i})).seq)
                return out

            async with asyncio.timeout(60):  # a stuck writer fails here, not at the suite timeout
                got = await asyncio.gather(*(writer(s1 if w % 2 else s2, 30) for w in range(8)))
            stored = sql_seqs(s1.db, "shared")
            assert stored == list(range(1, 241))
            assert sorted(x for g in got for x in g) == stored


async def test_a_writer_that_cannot_connect_fails_its_units_instead_of_hanging(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (a suite run hung 300 s): when the writer's connection is refused (e.g. the
    file is locked), appends fail with the reason, and succeed once the database answers."""
    db = Database(sqlite_url)
    connect = db.write_engine.connect
    allowed = threading.Event()

    def refusing_connect() -> Any:
        if not allowed.is_set():
            raise sqlite3.OperationalError("database is locked")
        return connect()

    monkeypatch.setattr(db.write_engine, "connect", refusing_connect)
    s = Streams(db, DomainClock(frozen=True, start_ms=1_000_000))
    s.start()
    try:
        with pytest.raises(sqlite3.OperationalError):
            async with asyncio.timeout(10):
                await s.append(FAM, "c", "x", {"i": 1})
        allowed.set()
        await wait_for(lambda: s.sequencer._conn is not None, 10)
        async with asyncio.timeout(10):
            ev = await s.append(FAM, "c", "x", {"i": 2})
        assert ev.seq == 1 and sql_seqs(db, "c") == [1]
    finally:
        await s.close()
        db.dispose()


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


async def test_a_unit_whose_statement_fails_rolls_back_to_its_own_savepoint(db_url: str) -> None:
    """A failing statement inside a unit (on PostgreSQL it aborts the transaction) is undone to
    the unit's savepoint: its earlier rows and its events go, its batch-mates' commit."""
    insert = text("INSERT INTO oe_counters (name, value) VALUES (:n, 1)")

    def good(name: str) -> Any:
        def fn(conn: Any, emit: Any) -> None:
            conn.execute(insert, {"n": name})
            emit(FAM, "t", "ok", {"n": name})

        return fn

    def bad(conn: Any, emit: Any) -> None:
        conn.execute(insert, {"n": "bad"})
        emit(FAM, "t", "bad", {})
        conn.execute(insert, {"n": "a"})  # the first unit's key: refused by the database

    async with open_streams(db_url) as s:
        results = await asyncio.gather(
            s.transact(good("a")), s.transact(bad), s.transact(good("b")), return_exceptions=True
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], Exception)
        names = s.db.read_sync(
            lambda c: sorted(r[0] for r in c.execute(text("SELECT name FROM oe_counters")))
        )
        assert names == ["a", "b"]
        assert sql_seqs(s.db, "t") == [1, 2]


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


async def test_bytes_bodies_bypass_the_family_encoder(sqlite_url: str) -> None:
    """A family encoder shapes dict bodies (it sees the seq); a bytes body is stored exactly as given."""
    async with open_streams(sqlite_url) as s:
        s.register_encoder(FAM, lambda seq, prev, ts, kind, body: b'{"seq":%d,"prev":%d}' % (seq, prev))
        a = await s.append(FAM, "enc", "x", {"ignored": True})
        b = await s.append(FAM, "enc", "x", b'["raw"]')
        assert (a.data, b.data) == (b'{"seq":1,"prev":0}', b'["raw"]')


async def test_stored_event_bytes_hold_their_size_not_the_encoders_buffer(sqlite_url: str) -> None:
    """Regression (RSS grew ~40 KB per Musubi order): orjson's bytes keep its whole buffer
    (≥ 4 KiB for a 400 B event); what the ring keeps is copied to its exact size, and one body
    shared by several events is kept once."""
    import gc
    import tracemalloc

    import orjson

    async with open_streams(sqlite_url) as s:
        await s.append(FAM, "warm", "x", {"i": 0})  # statement caches, the writer's connection
        body = {"pad": "x" * 300, "list": list(range(20))}
        shared = orjson.dumps(body)
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            await s.append_many([NewEvent(FAM, "m", "x", dict(body, i=i)) for i in range(1000)])
            await s.append_many([NewEvent(FAM, f"p{i % 10}", "x", shared) for i in range(1000)])
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        ring = s.hub.states[(FAM, "p0")].ring
        held = ring.since(1, s.clock.now_ms()) or []
        assert held[0].data == shared and held[0].data is not shared
        assert held[0].data is s.hub.states[(FAM, "p1")].ring.since(1, 0)[0].data  # type: ignore[index]
        # 1,000 distinct events of ~400 B and 1,000 sharing one body, with the engine's objects
        # around them (~1 MB): well under the 4 MiB that orjson's buffers alone would hold
        assert grown < 2_000_000, grown
