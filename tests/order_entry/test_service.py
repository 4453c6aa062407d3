"""The venue's lifecycle and its one consistency rule (CONTRACT §1, §6 "Restarts"): rebuilding
from the tables after a restart, a control reset, a crash before matching, a failed commit
(the unit of work's reload), raw appends on the same streams."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.conftest import ADMIN_HEADERS, make_settings, running_app, wait_for
from tests.order_entry.helpers import RICH, new_agent

pytestmark = pytest.mark.anyio
BTC = 1


async def test_restart_rebuilds_books_and_balances(db_url: str) -> None:
    """After a restart the books, balances, nonce floor and id counters come back from the
    tables: a resting order still matches, seqs and fill ids continue."""
    settings = make_settings(db_url)
    async with running_app(settings) as r:
        a = await new_agent(r.client, fund={"BTC": 10})
        b = await new_agent(r.client, fund={"USDC": 10_000})
        await a.place(BTC, "Ask", 100, 4, coid="rests")
        await b.place(BTC, "Bid", 100, 1)
        await r.ctx.services["order-entry"].drain()
        before_a = await a.bootstrap()
        before_b = await b.bootstrap()
        head_a = (await a.open_orders())["seq"]
    async with running_app(settings) as r2:
        a.client = b.client = r2.client
        assert await a.bootstrap() == before_a
        assert await b.bootstrap() == before_b
        await b.place(BTC, "Bid", 100, 3)
        await r2.ctx.services["order-entry"].drain()
        evs = [e["data"] for e in await a.all_events()]
        assert [e["seq"] for e in evs] == list(range(1, head_a + 2))
        assert evs[-1]["status"] == "FILLED" and evs[-1]["cumQty"] == 4
        fills = [e["fillId"] for e in evs if e["fillId"]]
        assert len(set(fills)) == 2
        assert (await a.open_orders())["orders"] == []
        assert (await b.bootstrap())["balances"]["BTC"]["free"] == 4


async def test_control_reset_wipes_and_reseeds(sqlite_url: str) -> None:
    """/_admin/reset wipes agents, orders, balances and streams, re-seeds the demo agents, and
    the venue works again at once."""
    from app.engine.order_entry.service import DEMO_AGENTS
    from tests.conftest import ADMIN_HEADERS
    from tests.order_entry.helpers import OE, Creds

    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        await a.place(BTC, "Bid", 100, 1)
        await r.ctx.services["order-entry"].drain()
        resp = await r.client.post("/_admin/reset", json={"seed": "demo"}, headers=ADMIN_HEADERS)
        assert resp.status_code == 200
        resp = await a.get("/api/v1/order-entry/markets")
        assert resp.json()["error"]["code"] == "INVALID_KEY"
        d = DEMO_AGENTS[1]
        demo = OE(r.client, Creds(d.api_key_id, d.api_secret, d.api_passphrase, d.account, list(d.scopes)))
        assert (await demo.bootstrap())["balances"]["USDC"]["free"] > 0
        order = await demo.place(BTC, "Bid", 64_000, 1)
        await r.ctx.services["order-entry"].drain()
        assert [o["orderId"] for o in (await demo.open_orders())["orders"]] == [order["orderId"]]
        assert (await demo.executions())["events"][0]["seq"] == 1


async def test_admitted_orders_survive_a_crash_before_matching(db_url: str) -> None:
    """Orders acknowledged but not yet matched when the process died (their engine worker never
    ran) are re-submitted at start: they get their NEW and match as if nothing happened."""
    settings = make_settings(db_url)
    async with running_app(settings) as r:
        a = await new_agent(r.client, fund={"USDC": 10_000})
        b = await new_agent(r.client, fund={"BTC": 10})
        await b.place(BTC, "Ask", 100, 2)
        svc = r.ctx.services["order-entry"]
        await svc.drain()
        for w in svc.workers.values():  # the engine stops: as if the process died right after the ack
            await w.stop()
        acked = await a.place(BTC, "Bid", 100, 5, coid="survivor")
        assert acked["accepted"]
        assert (await a.executions())["events"] == []  # nothing was matched yet
        svc.workers.clear()  # nothing left to drain at shutdown
    async with running_app(settings) as r2:
        a.client = b.client = r2.client
        await r2.ctx.services["order-entry"].drain()
        evs = [e["data"] for e in await a.all_events()]
        assert [(e["status"], e["filledQty"]) for e in evs] == [("NEW", 0), ("PARTIALLY_FILLED", 2)]
        assert evs[0]["orderId"] == acked["orderId"]
        snap = await a.open_orders()
        assert [(o["clientOrderId"], o["leavesQty"]) for o in snap["orders"]] == [("survivor", 3)]
        assert (await a.bootstrap())["balances"]["USDC"] == {"free": 10_000 - 500, "reserved": 300}


async def test_failed_commit_rebuilds_from_the_database(sqlite_url: str) -> None:
    """When a commit fails, the batch is answered 503 and not executed; the venue rebuilds its
    memory from the tables and goes on (balances, floors and the stream agree with the DB)."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund={"USDC": 1_000})
        await a.place(BTC, "Bid", 10, 10, coid="kept")
        svc = r.ctx.services["order-entry"]
        await svc.drain()
        before = await a.bootstrap()
        seq = len(await a.all_events())
        fail = {"once": True}

        def boom(conn: object) -> None:
            if fail.pop("once", False):
                raise RuntimeError("disk on fire")

        r.ctx.streams.sequencer.before_commit = boom
        resp = await a.batch(
            [a.action("SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 10, "qty": 50})]
        )
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        await svc.uow.settled()
        assert await a.bootstrap() == before
        assert len(await a.all_events()) == seq
        ok = await a.place(BTC, "Bid", 10, 5, coid="after")
        await svc.drain()
        evs = [e["data"] for e in await a.all_events()]
        assert [e["seq"] for e in evs] == list(range(1, seq + 2)) and evs[-1]["orderId"] == ok["orderId"]
        assert sorted(o["clientOrderId"] for o in (await a.open_orders())["orders"]) == ["after", "kept"]


async def test_raw_control_appends_share_the_stream(sqlite_url: str) -> None:
    """Events appended raw through the control API (demos, tests) on an Order Entry stream are
    accepted (whatever their body) and take their place in the account's sequence."""
    from tests.conftest import ADMIN_HEADERS

    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        await a.place(BTC, "Bid", 10, 1)
        svc = r.ctx.services["order-entry"]
        await svc.drain()
        resp = await r.client.post(
            f"/_admin/streams/order-entry/{a.account}/events", json={"count": 2}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 201 and resp.json()["seqs"] == [2, 3]
        resp = await r.client.post(
            f"/_admin/streams/order-entry/{a.account}/events",
            json={"body": {"status": "NEW", "note": "demo"}},
            headers=ADMIN_HEADERS,
        )
        assert resp.json()["seqs"] == [4]
        await a.place(BTC, "Bid", 10, 1)
        await svc.drain()
        page = await a.executions(5)
        assert [e["seq"] for e in page["events"]] == [5] and page["events"][0]["prevSeq"] == 4
        assert (await a.open_orders())["seq"] == 5


async def test_a_unit_staged_on_a_failed_one_never_commits(sqlite_url: str) -> None:
    """Regression: while a unit was in flight, a second one staged on top of it (a funding of the
    same account, whose balance row carries the first unit's reservation) was committed even
    though the first failed, leaving money reserved by an order that never existed. Units are
    committed one at a time: the second is void, both callers get 503, the database still holds
    the state before both."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund={"USDC": 1_000})
        svc = r.ctx.services["order-entry"]
        await svc.drain()
        before = await a.bootstrap()
        entered, go = threading.Event(), threading.Event()

        def hook(conn: Any) -> None:  # the writer thread, inside the unit's transaction
            row = conn.exec_driver_sql(
                "SELECT reserved FROM oe_balances WHERE account = ? AND asset = 'USDC'", (a.account,)
            ).first()
            if row is not None and row[0] == 100 and not entered.is_set():
                entered.set()
                go.wait(10)
                raise RuntimeError("disk on fire")

        r.ctx.streams.sequencer.before_commit = hook
        place = asyncio.create_task(
            a.batch([a.action("SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 10, "qty": 10})])
        )
        await wait_for(entered.is_set)
        fund = asyncio.create_task(
            r.client.post(
                f"/_admin/order-entry/accounts/{a.account}/fund",
                json={"balances": {"USDC": 5}},
                headers=ADMIN_HEADERS,
            )
        )
        await wait_for(lambda: svc.venue.ledger.free(a.account, "USDC") == 905)  # staged on top
        go.set()
        assert (await place).status_code == 503
        assert (await fund).status_code == 503
        await svc.uow.settled()
        r.ctx.streams.sequencer.before_commit = None
        assert await a.bootstrap() == before
        resp = await r.client.post(
            f"/_admin/order-entry/accounts/{a.account}/fund",
            json={"balances": {"USDC": 5}},
            headers=ADMIN_HEADERS,
        )
        assert resp.json()["balances"]["USDC"] == {"free": 1_005, "reserved": 0}
