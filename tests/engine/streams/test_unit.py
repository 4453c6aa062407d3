"""The unit of work: commit, then apply to memory, then subscribers; one failure policy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from app.engine.errors import Conflict, ServiceUnavailable
from app.engine.streams import Emit
from app.engine.streams.sequencer import ApplyFailed
from tests.engine.streams.helpers import FAM, open_streams, sql_seqs, take

pytestmark = pytest.mark.anyio


class Reloads:
    """A family's `reload`: counts calls, can fail a few times, can be held open."""

    def __init__(self, fail_times: int = 0) -> None:
        self.calls = 0
        self.fail_times = fail_times
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        if self.calls <= self.fail_times:
            raise RuntimeError("database still down")


def write_one(body: dict[str, Any]) -> Any:
    def write(conn: Any, emit: Emit) -> int:
        conn.execute(text("SELECT 1"))
        emit(FAM, "u", "x", body)
        return int(body["i"])

    return write


def crash(conn: Any, emit: Emit) -> None:
    """A write with a bug in it (not a refusal)."""
    raise KeyError("bug")


async def test_apply_runs_after_commit_and_before_any_subscriber_sees_the_events(db_url: str) -> None:
    """Memory follows the commit: when apply runs the event is stored, but neither the ring nor
    a subscriber has it yet; the subscriber then receives it with the memory already changed."""
    async with open_streams(db_url) as s:
        uow = s.unit_of_work(FAM, Reloads())
        sub = await s.subscribe(FAM, "u")
        memory: dict[str, int] = {}
        seen_at_apply: dict[str, Any] = {}

        def apply(result: int) -> None:
            seen_at_apply["stored"] = sql_seqs(s.db, "u")
            seen_at_apply["queued"] = sub.queued
            seen_at_apply["ring_head"] = s.hub.states[(FAM, "u")].ring.last_seq
            memory["i"] = result

        assert await uow.commit(write_one({"i": 7}), apply) == 7
        assert seen_at_apply == {"stored": [1], "queued": 0, "ring_head": 0}
        [event] = await take(sub, 1)
        assert event.seq == 1 and memory == {"i": 7}
        sub.close()


async def test_a_domain_error_from_write_is_a_refusal_without_reload(sqlite_url: str) -> None:
    """The unit's own refusal (a DomainError from write): raised as is, nothing committed,
    apply not run, no reload, and the next unit is accepted at once."""
    async with open_streams(sqlite_url) as s:
        reload = Reloads()
        uow = s.unit_of_work(FAM, reload)
        applied: list[int] = []

        def refuse(conn: Any, emit: Emit) -> None:
            emit(FAM, "u", "x", {"i": 0})
            raise Conflict("already there", code="CONFLICT")

        with pytest.raises(Conflict):
            await uow.commit(refuse, applied.append)
        assert uow.recovering is None and reload.calls == 0 and applied == []
        assert await uow.commit(write_one({"i": 1}), applied.append) == 1
        assert applied == [1] and sql_seqs(s.db, "u") == [1]


async def test_a_failed_commit_answers_unavailable_and_refuses_units_until_reloaded(
    db_url: str,
) -> None:
    """Any other failure: ServiceUnavailable, reload called, every unit refused at once while
    reload runs, accepted again once it finished."""
    async with open_streams(db_url) as s:
        reload = Reloads()
        reload.gate.clear()
        uow = s.unit_of_work(FAM, reload)
        applied: list[int] = []

        def boom(_conn: object) -> None:
            raise RuntimeError("disk on fire")

        s.sequencer.before_commit = boom
        with pytest.raises(ServiceUnavailable):
            await uow.commit(write_one({"i": 1}), applied.append)
        s.sequencer.before_commit = None
        async with asyncio.timeout(5):
            await reload.entered.wait()
        with pytest.raises(ServiceUnavailable):  # refused at once: memory is being rebuilt
            await uow.commit(write_one({"i": 2}), applied.append)
        assert applied == [] and sql_seqs(s.db, "u") == []
        reload.gate.set()
        async with asyncio.timeout(5):
            await uow.settled()
        assert reload.calls == 1 and uow.recovering is None
        assert await uow.commit(write_one({"i": 3}), applied.append) == 3
        assert applied == [3] and sql_seqs(s.db, "u") == [1]


async def test_a_write_that_crashes_is_not_a_refusal(sqlite_url: str) -> None:
    """A non-domain exception inside write (a bug, a lost connection) takes the failure path."""
    async with open_streams(sqlite_url) as s:
        reload = Reloads()
        uow = s.unit_of_work(FAM, reload)

        with pytest.raises(ServiceUnavailable):
            await uow.commit(crash)
        async with asyncio.timeout(5):
            await uow.settled()
        assert reload.calls == 1 and uow.failures == 1


async def test_apply_that_raises_even_a_domain_error_takes_the_failure_path(sqlite_url: str) -> None:
    """The commit stands but memory did not follow: ServiceUnavailable and a reload, never a
    refusal (the event is stored and delivered)."""
    async with open_streams(sqlite_url) as s:
        reload = Reloads()
        uow = s.unit_of_work(FAM, reload)

        def apply(_result: int) -> None:
            raise Conflict("memory disagrees", code="CONFLICT")

        with pytest.raises(ServiceUnavailable) as info:
            await uow.commit(write_one({"i": 1}), apply)
        assert isinstance(info.value.__cause__, ApplyFailed)
        async with asyncio.timeout(5):
            await uow.settled()
        assert reload.calls == 1 and sql_seqs(s.db, "u") == [1]


async def test_reload_is_retried_until_it_succeeds(sqlite_url: str) -> None:
    """A reload that fails is retried; units stay refused until one succeeds."""
    async with open_streams(sqlite_url) as s:
        reload = Reloads(fail_times=2)
        uow = s.unit_of_work(FAM, reload)
        uow.retry_s = 0.01

        with pytest.raises(ServiceUnavailable):
            await uow.commit(crash)
        async with asyncio.timeout(5):
            await uow.settled()
        assert reload.calls == 3 and uow.recovering is None
        assert await uow.commit(write_one({"i": 1})) == 1


async def test_failures_during_a_reload_start_no_second_reload(sqlite_url: str) -> None:
    """Several units failing together lead to one rebuild, not one per unit."""
    async with open_streams(sqlite_url) as s:
        reload = Reloads()
        reload.gate.clear()
        uow = s.unit_of_work(FAM, reload)

        results = await asyncio.gather(*(uow.commit(crash) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, ServiceUnavailable) for r in results)
        reload.gate.set()
        async with asyncio.timeout(5):
            await uow.settled()
        assert reload.calls == 1 and uow.failures == 3
