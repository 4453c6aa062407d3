"""What clients read (CONTRACT §1, §4.2): markets, limits, bootstrap, gap-fill ring vs SQL, the
open-orders snapshot and its seq, a market's book."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_settings, running_app
from tests.order_entry.helpers import RICH, new_agent, settle

pytestmark = pytest.mark.anyio

BTC = 1  # BTC-USDC, shard 0


def apply(events: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    book: dict[str, tuple[int, int]] = {}
    for d in events:
        oid, st = d["orderId"], d["status"]
        if st in ("NEW", "PARTIALLY_FILLED", "REPLACED"):
            book[oid] = (d["leavesQty"], d["cumQty"])
        elif st in ("FILLED", "CANCELED", "EXPIRED"):
            book.pop(oid, None)
    return book


async def test_markets_limits_bootstrap(sqlite_url: str) -> None:
    """≥4 markets over ≥2 shards in the §4.2 shape; limits carry x-bsl-contract; bootstrap shape."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund={"USDC": 500})
        markets = (await a.get("/api/v1/order-entry/markets")).json()["markets"]
        assert len(markets) >= 4 and len({m["shard"] for m in markets}) >= 2
        for m in markets:
            assert set(m) == {"market", "symbol", "baseAsset", "quoteAsset", "shard", "minQty", "status"}
            assert m["symbol"] == f"{m['baseAsset']}-{m['quoteAsset']}"
        resp = await a.get("/api/v1/order-entry/limits")
        assert resp.status_code == 200 and resp.headers["x-bsl-contract"] == "bsl-order-entry-v1"
        boot = await a.bootstrap()
        assert boot["balances"] == {"USDC": {"free": 500, "reserved": 0}}
        assert boot["nonceFloor"] == 0 and isinstance(boot["risk"], dict)
        fresh = await new_agent(r.client)
        assert (await fresh.bootstrap())["balances"] == {}


async def test_book_view_and_demo_identity(sqlite_url: str) -> None:
    """The control API shows a market's aggregated book (best first); demo agents read like the
    control API's create answer (the dashboard uses both)."""
    from app.engine.order_entry.service import DEMO_AGENTS
    from tests.conftest import ADMIN_HEADERS

    assert DEMO_AGENTS[0]["apiKeyId"] == "spk_demo_trader_a"
    assert DEMO_AGENTS[0]["account"].startswith("0x")
    async with running_app(make_settings(sqlite_url, oe_liquidity="on")) as r:
        await settle(r)
        a = await new_agent(r.client, fund=RICH)
        await a.place(BTC, "Bid", 64_995, 7)
        await settle(r)
        resp = await r.client.get("/_admin/order-entry/markets/1/book", headers=ADMIN_HEADERS)
        book = resp.json()
        assert book["bids"][0] == [64_995, 7] and book["bids"][1][0] == 64_990
        assert book["asks"][0][0] == 65_010 and [p for p, _ in book["asks"]] == sorted(
            p for p, _ in book["asks"]
        )
        resp = await r.client.get("/_admin/order-entry/markets/BTC-USDC/book", headers=ADMIN_HEADERS)
        assert resp.json()["market"] == 1
        assert (
            await r.client.get("/_admin/order-entry/markets/42/book", headers=ADMIN_HEADERS)
        ).status_code == 404


async def test_gap_fill_ring_vs_sql(db_url: str) -> None:
    """With a 5-event ring, reads far behind report sql / mixed and return exactly the events a
    ring read returns; paging with hasMore/nextSeq covers the stream once."""
    async with running_app(make_settings(db_url, ring_max_events=5)) as r:
        a = await new_agent(r.client, fund=RICH)
        await a.batch(
            [
                a.action("SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 7, "qty": 1})
                for _ in range(12)
            ]
        )
        await r.ctx.services["order-entry"].drain()
        ring = await a.executions(8)
        assert ring["source"] == "ring" and [e["seq"] for e in ring["events"]] == [8, 9, 10, 11, 12]
        assert ring["hasMore"] is False and ring["toSeq"] == 12 and ring["nextSeq"] == 13
        sql = await a.executions(1, 4)
        assert sql["source"] == "sql" and [e["seq"] for e in sql["events"]] == [1, 2, 3, 4]
        assert sql["hasMore"] is True and sql["nextSeq"] == 5 and sql["fromSeq"] == 1 and sql["toSeq"] == 4
        mixed = await a.executions(3)
        assert mixed["source"] == "mixed" and [e["seq"] for e in mixed["events"]] == list(range(3, 13))
        assert mixed["events"][5:] == ring["events"]  # byte-identical whichever source served them
        assert mixed["events"][:2] == sql["events"][2:]
        empty = await a.executions(13)
        assert empty["events"] == [] and empty["hasMore"] is False and empty["nextSeq"] == 13
        # paging
        seen: list[int] = []
        nxt = 1
        while True:
            page = await a.executions(nxt, 5)
            seen += [e["seq"] for e in page["events"]]
            if not page["hasMore"]:
                break
            nxt = page["nextSeq"]
        assert seen == list(range(1, 13))
        for q in ("limit=0", "limit=10001", "fromSeq=-1", "fromSeq=x"):
            resp = await a.get(f"/api/v1/order-entry/accounts/{a.account}/executions", q)
            assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_REQUEST"
            assert q.split("=")[0] in resp.json()["error"]["message"]


async def test_snapshot_seq_matches_orders(db_url: str) -> None:
    """The open-orders snapshot's seq is the last event it includes — also while orders keep
    arriving, filling and being cancelled: replaying events 1..seq gives exactly its orders."""
    import asyncio
    import random

    async with running_app(make_settings(db_url, oe_liquidity="on")) as r:
        a = await new_agent(r.client, fund=RICH)
        b = await new_agent(r.client, fund=RICH)
        rng = random.Random(5)
        stop = asyncio.Event()

        async def flow() -> None:
            while not stop.is_set():
                who = a if rng.random() < 0.7 else b
                acts = [
                    who.action(
                        "SpotPlaceOrder",
                        {
                            "market": BTC,
                            "side": rng.choice(("Bid", "Ask")),
                            "price": 65_000 + rng.randint(-4, 4) * 10,
                            "qty": rng.randint(1, 60),
                            "timeInForce": rng.choice(("gtc", "ioc")),
                        },
                    )
                    for _ in range(rng.randint(1, 3))
                ]
                if who is a and rng.random() < 0.2:
                    acts.append(a.action("SpotCancelAll", {}))
                await who.batch(acts)

        task = asyncio.create_task(flow())
        try:
            for _ in range(12):
                snap = await a.open_orders()
                evs = [e["data"] for e in await a.all_events() if e["seq"] <= snap["seq"]]
                assert len(evs) == snap["seq"]
                assert apply(evs) == {o["orderId"]: (o["leavesQty"], o["cumQty"]) for o in snap["orders"]}
        finally:
            stop.set()
            await task
        assert snap["seq"] > 0


async def test_gap_fill_from_seq_past_int64_is_400(sqlite_url: str) -> None:
    """Regression: `fromSeq=2^64` on the gap-fill answered 500 (integer beyond 64 bits); every
    out-of-range fromSeq or limit is 400 INVALID_REQUEST naming the parameter."""
    async with running_app(make_settings(sqlite_url)) as r:
        a = await new_agent(r.client, fund=RICH)
        path = f"/api/v1/order-entry/accounts/{a.account}/executions"
        for query, field in (
            (f"fromSeq={2**64}", "fromSeq"),
            (f"fromSeq={2**63}", "fromSeq"),
            (f"limit={2**64}", "limit"),
        ):
            resp = await a.get(path, query)
            assert resp.status_code == 400, (query, resp.text)
            err = resp.json()["error"]
            assert err["code"] == "INVALID_REQUEST" and field in err["message"], err
        assert (await a.executions(2**63 - 1))["events"] == []
