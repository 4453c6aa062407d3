"""CFD trading (CONTRACT §3.3): fills, margin, P&L with conversion, pending orders, SL/TP, stop-out.

Every expected figure below is computed by hand from the documented formulas:
margin (forex mode) = lots × contract / (leverage / margin_divider) in the base currency, at
the mid price; margin (CFD mode) = lots × contract × fill price / (leverage / margin_divider) in
the quote currency; profit = price difference × lots × contract in the quote currency,
converted to the account currency at the current mid.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.broker.helpers import (
    balance,
    broker_settings,
    events,
    new_user,
    open_trade,
    rows_as_dicts,
    set_price,
    trades,
)
from tests.conftest import ADMIN_HEADERS, running_app

pytestmark = pytest.mark.anyio


def approx(x: float) -> Any:
    return pytest.approx(x, abs=1e-6)


async def _open_rows(c: httpx.AsyncClient, token: str) -> dict[int, dict[str, Any]]:
    return {r["order"]: r for r in rows_as_dicts(await trades(c, token, tradeType=1))}


async def test_forex_usd_quote_pnl_through_price_moves(db_url: str) -> None:
    """EURUSD buy 1 lot: fill at ask, margin 1000 EUR at mid, P&L through three moves, close (both DBs)."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        login, token = await new_user(c, balance=10_000)
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        order = await open_trade(c, token, cmd=0, volume=100, symbol="EURUSD")
        row = (await _open_rows(c, token))[order]
        assert row["open_price"] == approx(1.10010) and row["state"] == 1 and row["cmd"] == 0
        b = await balance(c, token)
        assert b["margin"] == approx(1100.05)  # 1000 EUR × 1.10005
        assert b["profit"] == approx(-10.00) and b["equity"] == approx(9990.00)
        await set_price(c, "EURUSD", 1.10500, 1.10510)
        assert (await balance(c, token))["profit"] == approx(490.00)
        await set_price(c, "EURUSD", 1.09800, 1.09810)
        b = await balance(c, token)
        assert b["profit"] == approx(-210.00)
        assert b["equity"] == approx(9790.00)
        assert b["margin_free"] == approx(8689.95)
        assert b["margin_level"] == approx(889.96)  # 9790 / 1100.05 × 100
        resp = await c.request(
            "DELETE", "/trade/close", json={"order": order}, headers={"Authorization": token}
        )
        assert resp.json() == {"data": "OK"}
        b = await balance(c, token)
        assert b["balance"] == approx(9790.00) and b["margin"] == 0 and b["equity"] == approx(9790.00)
        closed = rows_as_dicts(await trades(c, token, tradeType=2))
        assert [(x["order"], x["state"], x["close_price"], x["profit"]) for x in closed] == [
            (order, 7, 1.098, -210.0)
        ]
        evs = await events(c, login)
        assert [e[0] for e in evs] == ["o", "b", "o", "b"]
        assert evs[2][12] == 7 and evs[2][17] == 0 and evs[3][2] == approx(9790.00)


async def test_jpy_quote_converts_profit_at_the_current_mid(sqlite_url: str) -> None:
    """USDJPY sell 2 lots: margin 2000 USD, profit in JPY converted at the USDJPY mid."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c)
        await set_price(c, "USDJPY", 150.000, 150.020)
        order = await open_trade(c, token, cmd=1, volume=200, symbol="USDJPY")
        assert (await _open_rows(c, token))[order]["open_price"] == approx(150.000)
        assert (await balance(c, token))["margin"] == approx(2000.00)
        await set_price(c, "USDJPY", 149.500, 149.520)
        # (150.000 - 149.520) × 2 × 100000 = 96000 JPY; / 149.510 = 642.097...
        assert (await balance(c, token))["profit"] == approx(642.10)
        await c.request("DELETE", "/trade/close", json={"order": order}, headers={"Authorization": token})
        assert (await balance(c, token))["balance"] == approx(10_642.10)


@pytest.mark.parametrize(
    ("symbol", "prices", "cmd", "volume", "margin", "moved", "profit"),
    [
        # metal, forex-mode margin in XAU: 0.1 × 100 / (100/2) = 0.2 XAU × 2000.15
        ("XAUUSD", (2000.00, 2000.30), 0, 10, 400.03, (2010.00, 2010.30), 97.00),
        # index, CFD margin: 1 × 1 × 5000.60 / (100/5)
        ("US500", (5000.00, 5000.60), 0, 100, 250.03, (5100.00, 5100.60), 99.40),
        # crypto sell, CFD margin: 0.1 × 1 × 60000 / (100/20); profit (60000 - 59030) × 0.1
        ("BTCUSD", (60000.00, 60030.00), 1, 10, 1200.00, (59000.00, 59030.00), 97.00),
    ],
)
async def test_margin_and_profit_per_symbol_class(
    sqlite_url: str,
    symbol: str,
    prices: tuple[float, float],
    cmd: int,
    volume: int,
    margin: float,
    moved: tuple[float, float],
    profit: float,
) -> None:
    """Metal, index and crypto: hand-computed margin at the fill and profit after a move."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c)
        await set_price(c, symbol, *prices)
        await open_trade(c, token, cmd=cmd, volume=volume, symbol=symbol)
        assert (await balance(c, token))["margin"] == approx(margin)
        await set_price(c, symbol, *moved)
        assert (await balance(c, token))["profit"] == approx(profit)


async def test_eur_quoted_index_converts_margin_and_profit(sqlite_url: str) -> None:
    """GER40 (EUR quote) on a USD account: margin and profit converted at the EURUSD mid."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c)
        await set_price(c, "EURUSD", 1.10000, 1.10020)  # mid 1.1001
        await set_price(c, "GER40", 18000.00, 18002.00)
        await open_trade(c, token, cmd=0, volume=100, symbol="GER40")
        b = await balance(c, token)
        assert b["margin"] == approx(990.20)  # 18002 / 20 = 900.10 EUR × 1.1001
        await set_price(c, "GER40", 18102.00, 18104.00)
        assert (await balance(c, token))["profit"] == approx(110.01)  # 100 EUR × 1.1001
        await set_price(c, "EURUSD", 1.20000, 1.20020)  # the conversion follows the market
        assert (await balance(c, token))["profit"] == approx(120.01)


async def test_eur_account_converts_usd_profit(sqlite_url: str) -> None:
    """An EUR account trading EURUSD: margin 1000 EUR as is, USD profit divided by the EURUSD mid."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c, currency="EUR")
        await set_price(c, "EURUSD", 1.25000, 1.25000)
        await open_trade(c, token, cmd=0, volume=100, symbol="EURUSD")
        assert (await balance(c, token))["margin"] == approx(1000.00)
        await set_price(c, "EURUSD", 1.25500, 1.25500)
        assert (await balance(c, token))["profit"] == approx(398.41)  # 500 USD / 1.255


async def test_not_enough_money_and_volume_rules(sqlite_url: str) -> None:
    """Margin beyond free margin → 409 NOT_ENOUGH_MONEY; volumes off the lot grid → 400 naming volume."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c, balance=1000)
        h = {"Authorization": token}
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        resp = await c.post("/trade/open", json={"cmd": 0, "volume": 100, "symbol": "EURUSD"}, headers=h)
        assert resp.status_code == 409 and resp.json()["error"] == "NOT_ENOUGH_MONEY"
        assert (
            await c.post("/trade/open", json={"cmd": 0, "volume": 90, "symbol": "EURUSD"}, headers=h)
        ).status_code == 200
        for body, field in (
            ({"cmd": 0, "volume": 5, "symbol": "US500"}, "volume"),
            ({"cmd": 0, "volume": 15, "symbol": "US500"}, "volume"),
            ({"cmd": 0, "volume": 0, "symbol": "EURUSD"}, "volume"),
            ({"cmd": 9, "volume": 1, "symbol": "EURUSD"}, "cmd"),
            ({"cmd": 0, "volume": 1, "symbol": "NOPE"}, "symbol"),
            ({"cmd": 0, "volume": 1}, "symbol"),
            ({"cmd": 0, "volume": "x", "symbol": "EURUSD"}, "volume"),
            ({"cmd": 0, "volume": 1, "symbol": "EURUSD", "sl": 1.2}, "sl"),
            ({"cmd": 0, "volume": 1, "symbol": "EURUSD", "tp": 1.0}, "tp"),
            ({"cmd": 2, "volume": 1, "symbol": "EURUSD"}, "open_price"),
            ({"cmd": 2, "volume": 1, "symbol": "EURUSD", "open_price": 1.2}, "open_price"),
        ):
            resp = await c.post("/trade/open", json=body, headers=h)
            assert resp.status_code == 400, body
            assert resp.json()["error"] == "INVALID_DATA" and field in resp.json()["message"], resp.text


async def test_sl_and_tp_trigger_on_equality_at_the_market_price(sqlite_url: str) -> None:
    """BUY closes at SL when bid == sl (code 1) and at TP when bid == tp (code 2); a SELL on the ask."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        await set_price(c, "USDJPY", 150.000, 150.020)
        buy_sl = await open_trade(c, token, cmd=0, volume=100, symbol="EURUSD", sl=1.09900)
        buy_tp = await open_trade(c, token, cmd=0, volume=100, symbol="EURUSD", tp=1.10200)
        sell_sl = await open_trade(c, token, cmd=1, volume=100, symbol="USDJPY", sl=150.500)
        sell_tp = await open_trade(c, token, cmd=1, volume=100, symbol="USDJPY", tp=149.500)
        await set_price(c, "EURUSD", 1.09901, 1.09911)
        assert set(await _open_rows(c, token)) == {buy_sl, buy_tp, sell_sl, sell_tp}
        await set_price(c, "EURUSD", 1.09900, 1.09910)
        await set_price(c, "USDJPY", 150.480, 150.500)
        await set_price(c, "EURUSD", 1.10200, 1.10210)
        await set_price(c, "USDJPY", 149.480, 149.500)
        assert await _open_rows(c, token) == {}
        closed = {x["order"]: x for x in rows_as_dicts(await trades(c, token, tradeType=2))}
        assert (closed[buy_sl]["reason"], closed[buy_sl]["close_price"]) == (1, 1.09900)
        assert closed[buy_sl]["profit"] == approx(-110.00)
        assert (closed[buy_tp]["reason"], closed[buy_tp]["close_price"]) == (2, 1.10200)
        assert closed[buy_tp]["profit"] == approx(190.00)
        assert (closed[sell_sl]["reason"], closed[sell_sl]["close_price"]) == (1, 150.500)
        assert (closed[sell_tp]["reason"], closed[sell_tp]["close_price"]) == (2, 149.500)
        close_events = [e for e in await events(c, login) if e[0] == "o" and e[12] == 7]
        assert [(e[1], e[17]) for e in close_events] == [(buy_sl, 1), (sell_sl, 1), (buy_tp, 2), (sell_tp, 2)]


async def test_sl_gap_closes_at_the_triggering_price_not_the_level(sqlite_url: str) -> None:
    """A price that jumps through the SL closes at that price, not at the SL level."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c)
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        order = await open_trade(c, token, cmd=0, volume=100, symbol="EURUSD", sl=1.09900)
        await set_price(c, "EURUSD", 1.09800, 1.09810)
        closed = rows_as_dicts(await trades(c, token, tradeType=2))
        assert [(x["order"], x["close_price"], x["reason"]) for x in closed] == [(order, 1.098, 1)]


@pytest.mark.parametrize(
    ("cmd", "open_price", "near", "hit", "fill"),
    [
        (2, 1.09500, (1.09500, 1.09510), (1.09490, 1.09500), 1.09500),  # BUY_LIMIT: ask <= price
        (3, 1.10500, (1.10490, 1.10500), (1.10500, 1.10510), 1.10500),  # SELL_LIMIT: bid >= price
        (4, 1.10500, (1.10480, 1.10490), (1.10495, 1.10505), 1.10505),  # BUY_STOP: ask >= price
        (5, 1.09500, (1.09510, 1.09520), (1.09490, 1.09500), 1.09490),  # SELL_STOP: bid <= price
    ],
)
async def test_each_pending_type_activates(
    sqlite_url: str,
    cmd: int,
    open_price: float,
    near: tuple[float, float],
    hit: tuple[float, float],
    fill: float,
) -> None:
    """Each pending type stays pending one step short and activates (state 3) at the market price."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        order = await open_trade(c, token, cmd=cmd, volume=10, symbol="EURUSD", open_price=open_price)
        pending = rows_as_dicts(await trades(c, token, tradeType=3))
        assert [(x["order"], x["cmd"], x["state"]) for x in pending] == [(order, cmd, 2)]
        assert (await balance(c, token))["margin"] == 0
        await set_price(c, "EURUSD", *near)
        assert len(rows_as_dicts(await trades(c, token, tradeType=3))) == 1
        await set_price(c, "EURUSD", *hit)
        assert rows_as_dicts(await trades(c, token, tradeType=3)) == []
        row = (await _open_rows(c, token))[order]
        assert row["state"] == 3 and row["cmd"] == (0 if cmd in (2, 4) else 1)
        assert row["open_price"] == approx(fill)
        assert (await balance(c, token))["margin"] > 0
        evs = await events(c, login)
        assert [e[0] for e in evs] == ["o", "o", "b"] and evs[1][12] == 3


async def test_pending_expiration_modify_and_cancel(db_url: str) -> None:
    """A pending order expires on the domain clock (state 5, code 4); modify and cancel work (both DBs)."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        login, token = await new_user(c)
        h = {"Authorization": token}
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        now_s = (await c.get("/_admin/clock", headers=ADMIN_HEADERS)).json()["now_ms"] // 1000
        expiring = await open_trade(
            c, token, cmd=2, volume=10, symbol="EURUSD", open_price=1.09, expiration=now_s + 60
        )
        kept = await open_trade(c, token, cmd=5, volume=10, symbol="EURUSD", open_price=1.09)
        resp = await c.post(
            "/trade/modify", json={"order": kept, "open_price": 1.095, "sl": 1.1, "tp": 1.08}, headers=h
        )
        assert resp.json() == {"data": "OK"}
        resp = await c.post("/trade/modify", json={"order": kept, "open_price": 1.2}, headers=h)
        assert resp.status_code == 400 and "open_price" in resp.json()["message"]
        await c.post("/_admin/clock", json={"action": "advance", "ms": 59_000}, headers=ADMIN_HEADERS)
        assert len(rows_as_dicts(await trades(c, token, tradeType=3))) == 2
        await c.post("/_admin/clock", json={"action": "advance", "ms": 1_000}, headers=ADMIN_HEADERS)
        pending = rows_as_dicts(await trades(c, token, tradeType=3))
        assert [(x["order"], x["open_price"], x["sl"], x["tp"], x["state"]) for x in pending] == [
            (kept, 1.095, 1.1, 1.08, 4)
        ]
        resp = await c.request("DELETE", "/trade/pending", json={"order": kept}, headers=h)
        assert resp.json() == {"data": "OK"}
        resp = await c.request("DELETE", "/trade/pending", json={"order": kept}, headers=h)
        assert resp.status_code == 404 and resp.json()["error"] == "TRADE_ERROR"
        closed = {x["order"]: x for x in rows_as_dicts(await trades(c, token, tradeType=2))}
        assert (closed[expiring]["state"], closed[expiring]["reason"]) == (5, 4)
        assert (closed[kept]["state"], closed[kept]["reason"]) == (5, 0)
        o_events = [(e[1], e[12], e[17]) for e in await events(c, login)]
        assert o_events == [(expiring, 2, 0), (kept, 2, 0), (kept, 4, 0), (expiring, 5, 4), (kept, 5, 0)]


async def test_partial_then_full_close(sqlite_url: str) -> None:
    """Closing 30 of 100 leaves 70 open (state 6) and books the 30's profit; then the rest closes."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        h = {"Authorization": token}
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        order = await open_trade(c, token, cmd=0, volume=100, symbol="EURUSD")
        await set_price(c, "EURUSD", 1.10110, 1.10120)
        resp = await c.request("DELETE", "/trade/close", json={"order": order, "volume": 130}, headers=h)
        assert resp.status_code == 400 and "volume" in resp.json()["message"]
        resp = await c.request("DELETE", "/trade/close", json={"order": order, "volume": 30}, headers=h)
        assert resp.json() == {"data": "OK"}
        row = (await _open_rows(c, token))[order]
        assert (row["volume"], row["state"]) == (70, 6)
        b = await balance(c, token)
        assert b["balance"] == approx(10_030.00)  # 0.3 lot × 0.00100 × 100000
        assert b["margin"] == approx(770.03)  # 1100.05 - 330.02 (330.015 rounded half away from zero)
        await c.request("DELETE", "/trade/close", json={"order": order}, headers=h)
        closed = rows_as_dicts(await trades(c, token, tradeType=2))
        assert sorted((x["volume"], x["profit"]) for x in closed) == [(30, 30.0), (70, 70.0)]
        assert (await balance(c, token))["balance"] == approx(10_100.00)
        evs = [e for e in await events(c, login) if e[0] == "o"]
        assert [(e[5], e[12]) for e in evs] == [(100, 1), (70, 6), (70, 7)]


async def test_stop_out_closes_the_worst_position(db_url: str) -> None:
    """Margin level under 50 % closes the worst position (code 3) and stops once it is back above (both DBs)."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        login, token = await new_user(c, balance=1000)
        await set_price(c, "EURUSD", 1.20000, 1.20020)
        await set_price(c, "XAUUSD", 2000.00, 2000.40)
        worst = await open_trade(c, token, cmd=0, volume=40, symbol="EURUSD")
        other = await open_trade(c, token, cmd=0, volume=1, symbol="XAUUSD")
        assert (await balance(c, token))["margin"] == approx(520.04)  # 480.04 + 40.00
        await set_price(c, "EURUSD", 1.18400, 1.18420)
        b = await balance(c, token)
        assert b["margin_level"] == approx(67.61) and b["level_type"] == 1  # margin call, no stop-out
        assert set(await _open_rows(c, token)) == {worst, other}
        await set_price(c, "EURUSD", 1.18100, 1.18120)
        assert set(await _open_rows(c, token)) == {other}
        closed = rows_as_dicts(await trades(c, token, tradeType=2))
        assert [(x["order"], x["reason"], x["close_price"], x["profit"]) for x in closed] == [
            (worst, 3, 1.181, -768.0)
        ]
        b = await balance(c, token)
        assert b["balance"] == approx(232.00) and b["level_type"] == 0
        stop = [e for e in await events(c, login) if e[-1] == 3]
        assert [e[0] for e in stop] == ["o", "b"]


async def test_trades_filters_paging_and_totals(sqlite_url: str) -> None:
    """/trades: tradeType, limit/offset, where* filters from JSON body or query string, totals."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _login, token = await new_user(c)
        h = {"Authorization": token}
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        await set_price(c, "USDJPY", 150.000, 150.020)
        a = await open_trade(c, token, cmd=0, volume=10, symbol="EURUSD", comment="a")
        b = await open_trade(c, token, cmd=1, volume=20, symbol="EURUSD")
        j = await open_trade(c, token, cmd=0, volume=30, symbol="USDJPY")
        p = await open_trade(c, token, cmd=2, volume=40, symbol="EURUSD", open_price=1.09)
        await c.request("DELETE", "/trade/close", json={"order": b}, headers=h)
        everything = await trades(c, token)
        assert [x[0] for x in everything["rows"]] == sorted([a, b, j, p, everything["rows"][0][0]])
        assert everything["count"] == 5  # + the initial deposit (finance)
        finance = rows_as_dicts(await trades(c, token, tradeType=4))
        assert [(x["cmd"], x["profit"], x["comment"]) for x in finance] == [(6, 10_000.0, "Deposit")]

        async def orders(
            params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
        ) -> list[int]:
            resp = await c.request("GET", "/trades", params=params, json=body, headers=h)
            assert resp.status_code == 200, resp.text
            return [row[0] for row in resp.json()["rows"]]

        assert await orders(body={"tradeType": 1, "where": {"symbol": "EURUSD"}}) == [a]
        assert await orders({"tradeType": "1", "where[symbol]": "EURUSD"}) == [a]
        assert await orders({"tradeType": "1", "where": '{"symbol":"USDJPY"}'}) == [j]
        assert await orders(body={"whereIn": {"order": [a, p]}}) == [a, p]
        assert await orders({"whereIn[symbol]": "USDJPY,EURUSD", "whereNot[cmd]": "1"}) == [a, j, p]
        assert await orders(body={"tradeType": 0, "whereBetween": {"volume": [15, 35]}}) == [b, j]
        assert await orders(body={"whereNotBetween": {"volume": [1, 35]}, "whereNotIn": {"cmd": [6]}}) == [p]
        assert await orders(body={"where": [["volume", ">=", 30]]}) == [j, p]
        assert await orders(body={"where": {"comment": "a"}}) == [a]
        page = await c.request(
            "GET", "/trades", json={"limit": 2, "offset": 1, "whereNotIn": {"cmd": [6]}}, headers=h
        )
        assert [row[0] for row in page.json()["rows"]] == [b, j] and page.json()["count"] == 4
        tot = (await c.request("GET", "/trades", json={"tradeType": 1}, headers=h)).json()
        assert tot["total_volume"] == 40 and tot["count"] == 2
        assert tot["total_profit"] == approx(sum(row[13] for row in tot["rows"]))
        for params, field in (
            ({"tradeType": 9}, "tradeType"),
            ({"limit": "x"}, "limit"),
            ({"where[nope]": "1"}, "where.nope"),
        ):
            resp = await c.get("/trades", params=params, headers=h)
            assert resp.status_code == 400 and field in resp.json()["message"], resp.text


async def test_trade_errors_for_unknown_and_foreign_orders(sqlite_url: str) -> None:
    """Closing, modifying or cancelling an order that is not the caller's → 404 TRADE_ERROR."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, t1 = await new_user(c)
        _, t2 = await new_user(c)
        order = await open_trade(c, t1, cmd=0, volume=1, symbol="EURUSD")
        pend = await open_trade(c, t1, cmd=2, volume=1, symbol="EURUSD", open_price=1.0)
        h2 = {"Authorization": t2}
        for method, path, body in (
            ("DELETE", "/trade/close", {"order": order}),
            ("POST", "/trade/modify", {"order": order, "sl": 1.0}),
            ("DELETE", "/trade/pending", {"order": pend}),
            ("DELETE", "/trade/close", {"order": 123}),
        ):
            resp = await c.request(method, path, json=body, headers=h2)
            assert resp.status_code == 404 and resp.json()["error"] == "TRADE_ERROR", (path, resp.text)
        resp = await c.request("DELETE", "/trade/close", json={"order": pend}, headers={"Authorization": t1})
        assert resp.status_code == 404 and resp.json()["error"] == "TRADE_ERROR"


async def test_deposit_and_notification_push_events(sqlite_url: str) -> None:
    """Control-API deposit adds a finance row and a `b` (code 5); a notification pushes `n`."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        resp = await c.post(
            f"/_admin/broker/users/{login}/deposit", json={"amount": 500}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 200 and resp.json()["balance"] == 10_500.0
        resp = await c.post(
            "/_admin/broker/notifications",
            json={"login": login, "title": "Hi", "message": "m"},
            headers=ADMIN_HEADERS,
        )
        assert resp.status_code == 201
        evs = await events(c, login)
        assert evs[0][0] == "b" and evs[0][2] == 10_500.0 and evs[0][-1] == 5
        assert evs[1][0] == "n" and evs[1][2:6] == [login, 0, "Hi", "m"]
        assert len(rows_as_dicts(await trades(c, token, tradeType=4))) == 2
