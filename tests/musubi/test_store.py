"""Musubi's one consistency rule (`Store.commit` through the streams unit of work): a failed
write answers 503 in the Musubi envelope, changes nothing in memory, and the next request works."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.musubi.service import Musubi
from tests.conftest import ADMIN_HEADERS, make_settings, running_app, wait_for
from tests.musubi.helpers import advance, cast, create, open_rfq, order_body, quote

pytestmark = pytest.mark.anyio


def fail_next_commit(svc: Musubi) -> dict[str, bool]:
    """Make the next stream commit fail once (as a full disk would), via the sequencer's hook."""
    armed = {"once": True}

    def boom(_conn: object) -> None:
        if armed.pop("once", False):
            raise RuntimeError("disk on fire")

    svc.streams.sequencer.before_commit = boom
    return armed


async def memory_matches_database(svc: Musubi) -> None:
    """After the rebuild, memory is exactly what the tables hold."""
    await svc.store.uow.settled()
    stored = await svc.store.load()
    m = svc.memory
    assert m.orders == stored.orders
    assert m.quotes == stored.quotes
    assert m.participants == stored.participants
    assert m.idempotency == stored.idempotency
    assert m.orders_by_party == stored.orders_by_party and m.won_by_mm == stored.won_by_mm


async def heads(client: Any, party_ids: list[str]) -> list[int]:
    out = []
    for pid in party_ids:
        r = await client.get(f"/_admin/streams/musubi/{pid}", headers=ADMIN_HEADERS)
        out.append(int(r.json()["head"]))
    return out


async def test_failed_write_is_503_and_changes_nothing(db_url: str) -> None:
    """A quote selection whose commit fails → 503 SERVICE_UNAVAILABLE in the envelope; the order,
    its quotes and every stream are as before; the same call then succeeds."""
    async with running_app(make_settings(db_url)) as r:
        svc: Musubi = r.ctx.services["musubi"]
        c = await cast(r.client)
        o = await open_rfq(r.client, c)
        iid = o["intent_id"]
        q1 = await quote(r.client, c.mm1, iid, "150.5")
        await quote(r.client, c.mm2, iid, "151")
        parties = [w.party_id for w in c.all]
        before = await heads(r.client, parties)
        order_before = svc.memory.orders[iid]

        armed = fail_next_commit(svc)
        resp = await r.client.post(f"/api/v1/orders/{iid}/quotes/{q1['quote_id']}/accept", headers=c.si.h)
        assert not armed, "the hook must have fired"
        assert resp.status_code == 503, resp.text
        body = resp.json()
        assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert body["meta"]["request_id"] == resp.headers["x-request-id"]
        await memory_matches_database(svc)
        assert svc.memory.orders[iid] == order_before
        assert {q.status for q in svc.memory.quotes_of(iid)} == {"PENDING"}
        assert await heads(r.client, parties) == before

        resp = await r.client.post(f"/api/v1/orders/{iid}/quotes/{q1['quote_id']}/accept", headers=c.si.h)
        assert resp.status_code == 200 and resp.json()["data"]["status"] == "QUOTED"
        await memory_matches_database(svc)


async def test_failed_create_with_idempotency_key_can_be_retried(sqlite_url: str) -> None:
    """A create whose commit fails leaves no order and no stored answer for its key: a retry with
    the same Idempotency-Key creates the order once, and a repeat returns that one."""
    async with running_app(make_settings(sqlite_url)) as r:
        svc: Musubi = r.ctx.services["musubi"]
        c = await cast(r.client)
        h = {**c.si.h, "Idempotency-Key": "k-1"}
        fail_next_commit(svc)
        resp = await r.client.post("/api/v1/orders", json=order_body(c), headers=h)
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        await memory_matches_database(svc)
        assert svc.memory.orders == {} and svc.memory.idem_pending == {}
        first = await r.client.post("/api/v1/orders", json=order_body(c), headers=h)
        again = await r.client.post("/api/v1/orders", json=order_body(c), headers=h)
        assert first.status_code == again.status_code == 201
        assert first.json()["data"] == again.json()["data"]
        assert len(svc.memory.orders) == 1
        await memory_matches_database(svc)


async def test_failed_timer_write_fires_again_after_the_rebuild(sqlite_url: str) -> None:
    """An expiry whose commit fails is not lost: the rebuild re-arms the order's timers and the
    order still expires (NO_QUOTE), with memory and database agreeing."""
    async with running_app(make_settings(sqlite_url, musubi_auto_quote="off")) as r:
        svc: Musubi = r.ctx.services["musubi"]
        c = await cast(r.client)
        o = await create(r.client, c)
        iid = o["intent_id"]
        armed = fail_next_commit(svc)
        await advance(r.client, 300_001)
        assert not armed

        async def expired() -> bool:
            await svc.store.uow.settled()
            return svc.memory.orders[iid].status == "EXPIRED"

        await wait_for(expired)
        assert svc.memory.orders[iid].failure_reason == "NO_QUOTE"
        await memory_matches_database(svc)
        resp = await r.client.get(f"/api/v1/orders/{iid}", headers=c.si.h)
        assert resp.json()["data"]["status"] == "EXPIRED"
