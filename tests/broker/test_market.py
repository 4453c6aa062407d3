"""Market data, the quote simulator, scripts and settings."""

from __future__ import annotations

import pytest

from tests.broker.helpers import broker_settings, new_user, rows_as_dicts, set_price
from tests.conftest import ADMIN_HEADERS, running_app

pytestmark = pytest.mark.anyio

SHORT_LIST_COLUMNS = [
    "symbol",
    "description",
    "currency",
    "margin_currency",
    "quote_currency",
    "group",
    "digits",
    "trade",
    "spread",
    "spread_balance",
    "swap_enable",
    "margin_divider",
    "margin_mode",
    "stops_level",
    "contract_size",
    "long_only",
    "ask",
    "bid",
    "point",
    "tick_value",
    "tick_size",
    "lot_min",
    "lot_max",
    "lot_step",
    "comm_base",
    "comm_type",
    "exchange",
    "category",
    "industry",
    "shareholders",
    "market_cap",
    "price1d",
    "icon",
]


async def test_short_list_info_and_asset(sqlite_url: str) -> None:
    """Short list has every reference column and the seeded symbol classes; info/asset look one up."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c)
        h = {"Authorization": token}
        body = (await c.get("/market/short/list", headers=h)).json()
        assert body["groups"][0] == "ALL" and {"Forex", "Metals", "Indices", "Crypto"} <= set(body["groups"])
        assert body["assets"]["structure"] == SHORT_LIST_COLUMNS
        rows = {x["symbol"]: x for x in rows_as_dicts(body["assets"])}
        assert {"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500", "BTCUSD"} <= set(rows)
        assert len(rows) == 20
        eur = rows["EURUSD"]
        assert (eur["digits"], eur["contract_size"], eur["point"], eur["lot_min"], eur["lot_step"]) == (
            5,
            100_000.0,
            0.00001,
            0.01,
            0.01,
        )
        assert eur["ask"] > eur["bid"] and round((eur["ask"] - eur["bid"]) / eur["point"]) == eur["spread"]
        assert eur["tick_value"] == pytest.approx(1.0)
        assert rows["USDJPY"]["quote_currency"] == "JPY" and rows["USDJPY"]["digits"] == 3
        assert rows["XAUUSD"]["group"] == "Metals" and rows["BTCUSD"]["group"] == "Crypto"
        await set_price(c, "USDJPY", 150.0, 150.02)
        info = rows_as_dicts((await c.get("/market/info", params={"symbol": "usdjpy"}, headers=h)).json())
        assert info[0]["bid"] == 150.0 and info[0]["ask"] == 150.02
        assert info[0]["tick_value"] == pytest.approx(100 / 150.01)  # 1000 JPY per point-lot at the mid
        asset = (await c.get("/market/asset", params={"symbol": "BTCUSD"}, headers=h)).json()
        assert asset["structure"] == [
            "symbol",
            "description",
            "category",
            "industry",
            "exchange",
            "shareholders",
            "market_cap",
            "icon",
        ]
        assert asset["rows"][0][0] == "BTCUSD"
        resp = await c.get("/market/info", params={"symbol": "NOPE"}, headers=h)
        assert resp.status_code == 404 and resp.json()["error"] == "NOT_FOUND"
        resp = await c.get("/market/info", headers=h)
        assert resp.status_code == 400 and "symbol" in resp.json()["message"]


async def test_watch_list(db_url: str) -> None:
    """The watch list starts with the defaults, takes adds and deletes, and shows live prices (both DBs)."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        _, token = await new_user(c)
        h = {"Authorization": token}
        watch = rows_as_dicts((await c.get("/market/watch", headers=h)).json())
        assert [w["symbol"] for w in watch][:3] == ["EURUSD", "GBPUSD", "USDJPY"]
        assert (await c.put("/market/watch", json={"symbol": "ethusd"}, headers=h)).json() == {"data": "OK"}
        assert (await c.request("DELETE", "/market/watch", json={"symbol": "EURUSD"}, headers=h)).json() == {
            "data": "OK"
        }
        resp = await c.request("DELETE", "/market/watch", json={"symbol": "EURUSD"}, headers=h)
        assert resp.status_code == 404
        resp = await c.put("/market/watch", json={"symbol": "NOPE"}, headers=h)
        assert resp.status_code == 400 and "symbol" in resp.json()["message"]
        await set_price(c, "ETHUSD", 3000.0, 3002.0)
        watch = rows_as_dicts((await c.get("/market/watch", headers=h)).json())
        assert "EURUSD" not in [w["symbol"] for w in watch]
        assert watch[-1]["symbol"] == "ETHUSD" and (watch[-1]["bid"], watch[-1]["ask"]) == (3000.0, 3002.0)


async def test_simulator_is_paused_by_a_frozen_clock_and_deterministic(
    sqlite_url: str, tmp_path: object
) -> None:
    """With a frozen clock quotes move only on advance, and the same advances give the same prices."""

    async def prices_after(url: str) -> list[list[float]]:
        async with running_app(broker_settings(url, broker_tick_interval_ms=1000)) as r:
            c = r.client
            first = (await c.get("/_admin/broker/prices", headers=ADMIN_HEADERS)).json()["prices"]
            again = (await c.get("/_admin/broker/prices", headers=ADMIN_HEADERS)).json()["prices"]
            assert first == again  # frozen: nothing moves by itself
            await c.post("/_admin/clock", json={"action": "advance", "ms": 5_000}, headers=ADMIN_HEADERS)
            moved = (await c.get("/_admin/broker/prices", headers=ADMIN_HEADERS)).json()["prices"]
            assert [p["bid"] for p in moved] != [p["bid"] for p in first]
            for p in moved:
                assert p["ask"] > p["bid"] > 0
            return [[p["bid"], p["ask"]] for p in moved]

    import shutil

    other = str(tmp_path) + "/other.db"  # type: ignore[operator]
    shutil.copy(sqlite_url.removeprefix("sqlite:///"), other)
    assert await prices_after(sqlite_url) == await prices_after(f"sqlite:///{other}")


async def test_scripts_crud(db_url: str) -> None:
    """Scripts: add answers the id, update and delete work on own scripts only (both DBs)."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        _, token = await new_user(c)
        _, other = await new_user(c)
        h = {"Authorization": token}
        resp = await c.post("/script", json={"name": "s1", "script": "print(1)", "autostart": 1}, headers=h)
        sid = resp.json()["id"]
        assert resp.json() == {"data": "OK", "id": sid}
        assert (await c.put("/script", json={"id": sid, "script": "print(2)"}, headers=h)).json() == {
            "data": "OK"
        }
        rows = rows_as_dicts((await c.get("/scripts", headers=h)).json())
        assert [(x["id"], x["name"], x["script"], x["autostart"], x["type"]) for x in rows] == [
            (sid, "s1", "print(2)", 1, "private")
        ]
        resp = await c.put("/script", json={"id": sid, "name": "x"}, headers={"Authorization": other})
        assert resp.status_code == 404
        resp = await c.post("/script", json={"script": "x"}, headers=h)
        assert resp.status_code == 400 and "name" in resp.json()["message"]
        assert (await c.request("DELETE", "/script", json={"id": sid}, headers=h)).json() == {"data": "OK"}
        assert (await c.get("/scripts", headers=h)).json()["rows"] == []
        assert (await c.request("DELETE", "/script", json={"id": sid}, headers=h)).status_code == 404


async def test_settings_merge(sqlite_url: str) -> None:
    """POST /settings merges keys (JSON values kept), null removes a key; GET answers key/value rows."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        h = {"Authorization": token}
        await c.post("/settings", json={"theme": "dark", "chart": {"tf": "M5"}, "login": login}, headers=h)
        await c.post("/settings", json={"theme": "light", "lang": "en"}, headers=h)
        body = (await c.get("/settings", headers=h)).json()
        assert body["structure"] == ["key", "value"]
        assert body["rows"] == [["chart", {"tf": "M5"}], ["lang", "en"], ["theme", "light"]]
        await c.post("/settings", json={"lang": None}, headers=h)
        assert [k for k, _ in (await c.get("/settings", headers=h)).json()["rows"]] == ["chart", "theme"]
        resp = await c.post("/settings", content=b"[1,2]", headers=h)
        assert resp.status_code == 400 and resp.json()["error"] == "INVALID_DATA"


async def test_broker_migration_walks_down_and_up(db_url: str) -> None:
    """The broker migration drops everything it created and can be re-applied (both DBs)."""
    from sqlalchemy import inspect

    from app.db import Database

    db = Database(db_url)
    try:
        db.downgrade("0002_musubi")
        names = db.read_sync(lambda conn: inspect(conn).get_table_names())
        assert not [n for n in names if n.startswith("broker_")]
        db.migrate()
        names = db.read_sync(lambda conn: inspect(conn).get_table_names())
        assert {"broker_users", "broker_trades", "broker_alerts", "broker_alert_logs"} <= set(names)
    finally:
        db.dispose()
