"""Replay: reads from any seq, ring first then SQL, with the source reported and identical bytes."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine.streams import NewEvent
from tests.engine.streams.helpers import FAM, open_streams

pytestmark = pytest.mark.anyio


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
