"""The simulated liquidity provider (CONTRACT §4.3): on with the demo seed, switched by the
control API, quoting every open market."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings, running_app
from tests.order_entry.helpers import RICH, events_of, new_agent, place, settle

pytestmark = pytest.mark.anyio

BTC = 1  # BTC-USDC, shard 0
SOL = 3  # SOL-USDC, minQty 10, shard 1


async def test_legacy_alias_and_liquidity_provider(sqlite_url: str) -> None:
    """The legacy batch path behaves like the canonical one; with the liquidity provider on, a
    lone client's marketable order fills."""
    async with running_app(make_settings(sqlite_url, oe_liquidity="on")) as r:
        await settle(r)
        a = await new_agent(r.client, fund=RICH)
        resp = await a.batch(
            [place(a, SOL, "Bid", 1_000, 20, "ioc", coid="lone")], path="/api/v1/bsl/orders/batch"
        )
        assert resp.status_code == 200 and resp.json()["results"][0]["accepted"]
        await settle(r)
        evs = await events_of(a)
        assert evs[-1]["status"] == "FILLED" and evs[-1]["cumQty"] == 20
        # switch it off: its orders leave the books, a marketable ioc no longer fills
        from tests.conftest import ADMIN_HEADERS

        resp = await r.client.post(
            "/_admin/order-entry/liquidity", json={"enabled": False}, headers=ADMIN_HEADERS
        )
        assert resp.json() == {"enabled": False}
        await a.place(SOL, "Bid", 1_000, 20, "ioc", coid="alone")
        await settle(r)
        assert [e["status"] for e in await events_of(a) if e["clientOrderId"] == "alone"] == [
            "NEW",
            "CANCELED",
        ]


async def test_liquidity_provider_on_by_default_with_demo_seed(sqlite_url: str) -> None:
    """`--seed demo` switches the liquidity provider on: every open market has 5 levels a side
    around its mid; the halted market has none; `--seed none` leaves the books empty."""
    from tests.conftest import ADMIN_HEADERS

    async with running_app(make_settings(sqlite_url, seed="demo")) as r:
        await settle(r)
        for market in (1, 2, 3, 4):
            book = (
                await r.client.get(f"/_admin/order-entry/markets/{market}/book", headers=ADMIN_HEADERS)
            ).json()
            assert len(book["bids"]) == 5 and len(book["asks"]) == 5, market
            assert book["bids"][0][0] < book["asks"][0][0]
        halted = (await r.client.get("/_admin/order-entry/markets/5/book", headers=ADMIN_HEADERS)).json()
        assert halted["bids"] == [] and halted["asks"] == []
        resp = await r.client.post("/_admin/reset", json={"seed": "none"}, headers=ADMIN_HEADERS)
        assert resp.status_code == 200
        await settle(r)
        book = (await r.client.get("/_admin/order-entry/markets/1/book", headers=ADMIN_HEADERS)).json()
        assert book["bids"] == [] and book["asks"] == []
