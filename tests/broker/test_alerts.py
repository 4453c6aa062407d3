"""Price alerts: the 13 conditions, side, once vs repeating, expiry, logs and `a` events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.broker.helpers import broker_settings, events, new_user, rows_as_dicts, set_price
from tests.conftest import ADMIN_HEADERS, running_app

pytestmark = pytest.mark.anyio

START = 1.10000  # EURUSD bid when each alert is created (ask = bid + 0.00010)


async def _create(c: httpx.AsyncClient, token: str, **body: Any) -> int:
    payload: dict[str, Any] = {"symbol": "EURUSD", "side": 0}
    payload.update(body)
    resp = await c.put("/price_alert", json=payload, headers={"Authorization": token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == "OK"
    alert_id: int = resp.json()["id"]
    return alert_id


async def _walk(c: httpx.AsyncClient, login: int, bids: list[float]) -> list[int]:
    """Set each bid in turn; the indexes of the steps after which a new `a` event appeared."""
    fired: list[int] = []
    seen = len([e for e in await events(c, login) if e[0] == "a"])
    for i, bid in enumerate(bids):
        await set_price(c, "EURUSD", bid, round(bid + 0.0001, 5))
        now = len([e for e in await events(c, login) if e[0] == "a"])
        fired.extend([i] * (now - seen))
        seen = now
    return fired


CASES = [
    # condition, fields, bids after creation, steps that fire (once mode)
    (0, {"target_price": 1.10100}, [1.10050, 1.10100, 1.10200, 1.10000, 1.10150], [1]),
    (1, {"target_price": 1.09900}, [1.09950, 1.09900, 1.09800], [1]),
    (2, {"target_price": 1.10100}, [1.10100, 1.10101], [1]),
    (3, {"target_price": 1.09900}, [1.09900, 1.09899], [1]),
    (4, {"channel_low": 1.10100, "channel_high": 1.10200}, [1.10050, 1.10100], [1]),
    (5, {"channel_low": 1.09900, "channel_high": 1.10100}, [1.10100, 1.10101], [1]),
    (6, {"channel_low": 1.10100, "channel_high": 1.10200}, [1.10050, 1.10150], [1]),
    (7, {"channel_low": 1.09900, "channel_high": 1.10100}, [1.10050, 1.10150], [1]),
    (8, {"move_threshold": 0.00100}, [1.10099, 1.10100], [1]),
    (9, {"move_threshold": 0.00100}, [1.09901, 1.09900], [1]),
    (10, {"move_threshold": 1.0}, [1.11099, 1.11100], [1]),
    (11, {"move_threshold": 1.0}, [1.08901, 1.08900], [1]),
    (12, {"target_price": 1.10100}, [1.10050, 1.10150, 1.10050], [1]),
]


@pytest.mark.parametrize(
    ("condition", "fields", "bids", "expected"), CASES, ids=[f"cond{c[0]}" for c in CASES]
)
async def test_each_condition_fires_exactly_when_it_should(
    sqlite_url: str, condition: int, fields: dict[str, Any], bids: list[float], expected: list[int]
) -> None:
    """A once-mode alert of each condition fires at exactly the documented step, then never again."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        await set_price(c, "EURUSD", START, START + 0.0001)
        alert_id = await _create(c, token, condition=condition, **fields, message=f"c{condition}")
        assert await _walk(c, login, bids) == expected
        alert = rows_as_dicts((await c.get("/price_alert/list", headers={"Authorization": token})).json())[0]
        assert alert["id"] == alert_id and alert["status"] == 1
        assert alert["triggered_price"] == bids[expected[0]]
        a = next(e for e in await events(c, login) if e[0] == "a")
        assert a[2:8] == [alert_id, login, "EURUSD", 0, condition, fields.get("target_price")]
        assert a[8] == bids[expected[0]] and a[10] == f"c{condition}"


@pytest.mark.parametrize(
    ("condition", "fields", "bids", "expected"),
    [
        (0, {"target_price": 1.10100}, [1.10150, 1.10050, 1.10150, 1.10160], [0, 2]),
        (12, {"target_price": 1.10100}, [1.10150, 1.10050, 1.10150], [0, 1, 2]),
        (2, {"target_price": 1.10100}, [1.10150, 1.10160, 1.10050, 1.10150], [0, 3]),
        (7, {"channel_low": 1.09900, "channel_high": 1.10100}, [1.10150, 1.10200, 1.10000, 1.09800], [0, 3]),
        (8, {"move_threshold": 0.00100}, [1.10100, 1.10150, 1.10200], [0, 2]),
    ],
    ids=["cross-up", "cross-either", "greater-than", "outside", "moving-up"],
)
async def test_repeating_alerts_fire_again(
    sqlite_url: str, condition: int, fields: dict[str, Any], bids: list[float], expected: list[int]
) -> None:
    """repeat_mode 1 keeps the alert active: crossings fire each time, level states re-arm when false,
    moving conditions restart from the price that fired."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        await set_price(c, "EURUSD", START, START + 0.0001)
        await _create(c, token, condition=condition, repeat_mode=1, **fields)
        assert await _walk(c, login, bids) == expected
        alert = rows_as_dicts((await c.get("/price_alert/list", headers={"Authorization": token})).json())[0]
        assert alert["status"] == 0
        logs = rows_as_dicts((await c.get("/price_alert/logs", headers={"Authorization": token})).json())
        assert len(logs) == len(expected)


async def test_ask_side_uses_the_ask(sqlite_url: str) -> None:
    """side 1 compares the ask: Greater Than fires on the ask while the bid is still below."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, token = await new_user(c)
        await set_price(c, "EURUSD", START, START + 0.0001)
        await _create(c, token, side=1, condition=2, target_price=1.10100)
        await _create(c, token, side=0, condition=2, target_price=1.10100)
        await set_price(c, "EURUSD", 1.10095, 1.10105)
        fired = [e for e in await events(c, login) if e[0] == "a"]
        assert [(e[2], e[5], e[8]) for e in fired] == [(1, 1, 1.10105)]


async def test_expiry_logs_update_and_deletes(db_url: str) -> None:
    """expires_at ends an alert on the domain clock; logs list and delete; update re-activates (both DBs)."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        login, token = await new_user(c)
        h = {"Authorization": token}
        await set_price(c, "EURUSD", START, START + 0.0001)
        now_s = (await c.get("/_admin/clock", headers=ADMIN_HEADERS)).json()["now_ms"] // 1000
        expiring = await _create(c, token, condition=2, target_price=1.10100, expires_at=now_s + 30)
        once = await _create(
            c, token, condition=0, target_price=1.10100, comment="note", indicator_name="ind"
        )
        await c.post("/_admin/clock", json={"action": "advance", "ms": 30_000}, headers=ADMIN_HEADERS)
        alerts = {a["id"]: a for a in rows_as_dicts((await c.get("/price_alert/list", headers=h)).json())}
        assert alerts[expiring]["status"] == 2 and alerts[once]["status"] == 0
        await set_price(c, "EURUSD", 1.10150, 1.10160)
        logs = rows_as_dicts((await c.get("/price_alert/logs", headers=h)).json())
        assert [(x["alert_id"], x["triggered_price"], x["comment"], x["indicator_name"]) for x in logs] == [
            (once, 1.1015, "note", "ind")
        ]
        # update: re-activated with a new target; fires again on its own crossing
        resp = await c.post("/price_alert", json={"id": once, "target_price": 1.10300}, headers=h)
        assert resp.json() == {"data": "OK"}
        await set_price(c, "EURUSD", 1.10300, 1.10310)
        logs = rows_as_dicts((await c.get("/price_alert/logs", headers=h)).json())
        assert len(logs) == 2
        resp = await c.request("DELETE", "/price_alert/logs", json={"id": logs[0]["id"]}, headers=h)
        assert resp.json() == {"data": "OK"}
        assert len((await c.get("/price_alert/logs", headers=h)).json()["rows"]) == 1
        resp = await c.request("DELETE", "/price_alert/logs", json={"id": 999}, headers=h)
        assert resp.status_code == 404
        assert (await c.request("DELETE", "/price_alert/logs", headers=h)).json() == {"data": "OK"}
        assert (await c.get("/price_alert/logs", headers=h)).json()["rows"] == []
        assert (await c.request("DELETE", "/price_alert", json={"id": once}, headers=h)).json() == {
            "data": "OK"
        }
        assert [a[0] for a in (await c.get("/price_alert/list", headers=h)).json()["rows"]] == [expiring]
        resp = await c.request("DELETE", "/price_alert", json={"id": once}, headers=h)
        assert resp.status_code == 404 and resp.json()["error"] == "NOT_FOUND"
        assert len([e for e in await events(c, login) if e[0] == "a"]) == 2


async def test_alert_validation_names_the_field(sqlite_url: str) -> None:
    """A condition's required fields, enums, symbol and expiry are checked: 400 INVALID_DATA naming the field."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        _, token = await new_user(c)
        h = {"Authorization": token}
        for body, field in (
            ({"symbol": "EURUSD", "side": 0, "condition": 0}, "target_price"),
            ({"symbol": "EURUSD", "side": 0, "condition": 12}, "target_price"),
            ({"symbol": "EURUSD", "side": 0, "condition": 4, "channel_high": 1.2}, "channel_low"),
            (
                {"symbol": "EURUSD", "side": 0, "condition": 6, "channel_low": 1.2, "channel_high": 1.1},
                "channel_high",
            ),
            ({"symbol": "EURUSD", "side": 0, "condition": 10}, "move_threshold"),
            ({"symbol": "EURUSD", "side": 2, "condition": 0, "target_price": 1.1}, "side"),
            ({"symbol": "EURUSD", "side": 0, "condition": 13, "target_price": 1.1}, "condition"),
            ({"symbol": "EURUSD", "condition": 0, "target_price": 1.1}, "side"),
            ({"symbol": "NOPE", "side": 0, "condition": 0, "target_price": 1.1}, "symbol"),
            (
                {"symbol": "EURUSD", "side": 0, "condition": 0, "target_price": 1.1, "repeat_mode": 3},
                "repeat_mode",
            ),
            (
                {"symbol": "EURUSD", "side": 0, "condition": 0, "target_price": 1.1, "expires_at": 5},
                "expires_at",
            ),
        ):
            resp = await c.put("/price_alert", json=body, headers=h)
            assert resp.status_code == 400, body
            assert resp.json()["error"] == "INVALID_DATA" and field in resp.json()["message"], resp.text
