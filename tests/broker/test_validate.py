"""Input bounds (CONTRACT §6 "Limits, every family"): integers past 64 bits, deep JSON, huge
numbers and wrong methods are refused in the broker's shape, naming the field, and nothing
admitted is disturbed (no failed write, no rebuild)."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.broker.service import BrokerService
from tests.broker.helpers import broker_settings, new_user
from tests.conftest import ADMIN_HEADERS, running_app

pytestmark = pytest.mark.anyio

BIG = 2**63
HUGE = 2**64


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("DELETE", "/script", {"id": BIG}, "id"),
        ("PUT", "/script", {"id": BIG, "name": "x"}, "id"),
        ("DELETE", "/price_alert/logs", {"id": BIG}, "id"),
        ("DELETE", "/price_alert", {"id": HUGE}, "id"),
        ("POST", "/price_alert", {"id": BIG, "symbol": "EURUSD", "side": 0, "condition": 2}, "id"),
        (
            "PUT",
            "/price_alert",
            {"symbol": "EURUSD", "side": 0, "condition": 2, "expires_at": BIG},
            "expires_at",
        ),
        ("PUT", "/price_alert", {"symbol": "EURUSD", "side": BIG, "condition": 2}, "side"),
        ("DELETE", "/trade/close", {"order": BIG}, "order"),
        ("DELETE", "/trade/close", {"order": 100001, "volume": BIG}, "volume"),
        ("DELETE", "/trade/pending", {"order": BIG}, "order"),
        ("POST", "/trade/modify", {"order": BIG, "sl": 1}, "order"),
        ("POST", "/trade/open", {"cmd": BIG, "volume": 100, "symbol": "EURUSD"}, "cmd"),
        ("POST", "/trade/open", {"cmd": 0, "volume": BIG, "symbol": "EURUSD"}, "volume"),
        (
            "POST",
            "/trade/open",
            {"cmd": 2, "volume": 100, "symbol": "EURUSD", "open_price": 1.0, "expiration": BIG},
            "expiration",
        ),
        (
            "POST",
            "/trade/open",
            {"cmd": 2, "volume": 100, "symbol": "EURUSD", "open_price": 1e300},
            "open_price",
        ),
        ("GET", "/trades?offset=18446744073709551616", None, "offset"),
        ("GET", "/trades?limit=18446744073709551616", None, "limit"),
        ("GET", "/trades?tradeType=18446744073709551616", None, "tradeType"),
    ],
)
async def test_integers_past_64_bits_answer_400_not_500_and_reload_nothing(
    sqlite_url: str, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    """Each bad integer (or number) is a 400 INVALID_DATA naming its field; no write fails, so the
    broker never rebuilds its state, and the caller's next request works."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        svc: BrokerService = r.ctx.services["broker"]
        _, token = await new_user(c)
        resp = await c.request(method, path, json=body, headers={"Authorization": token})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == "INVALID_DATA" and field in resp.json()["message"]
        assert svc.core.uow.failures == 0 and svc.core.uow.recovering is None
        assert (await c.get("/account/balance", headers={"Authorization": token})).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "secret-pw", "login": BIG}, "login"),
        ({"password": "secret-pw", "login": HUGE}, "login"),
        ({"password": "secret-pw", "login": 10**15 + 1}, "login"),
        ({"password": "secret-pw", "leverage": BIG}, "leverage"),
    ],
)
async def test_admin_user_with_a_login_past_its_range_answers_400(
    sqlite_url: str, body: dict[str, Any], field: str
) -> None:
    """`POST /_admin/broker/users` with login 2^63 (or more) is refused naming `login`; no rebuild."""
    async with running_app(broker_settings(sqlite_url)) as r:
        svc: BrokerService = r.ctx.services["broker"]
        resp = await r.client.post("/_admin/broker/users", json=body, headers=ADMIN_HEADERS)
        assert resp.status_code == 400, resp.text
        assert field in resp.text
        assert svc.core.uow.failures == 0
        ok = await r.client.post(
            "/_admin/broker/users", json={"password": "secret-pw"}, headers=ADMIN_HEADERS
        )
        assert ok.status_code == 201


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_settings_nested_deeper_than_64_answer_400_not_500(sqlite_url: str) -> None:
    """A setting nested 255 deep (orjson's own limit) or 65 deep is refused with 400 naming the body;
    one that keeps the body within 64 levels is stored; nothing is rebuilt."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        svc: BrokerService = r.ctx.services["broker"]
        _, token = await new_user(c)
        auth = {"Authorization": token}
        for depth in (255, 64):
            resp = await c.post("/settings", json={"deep": nested(depth)}, headers=auth)
            assert resp.status_code == 400, resp.text
            assert resp.json()["error"] == "INVALID_DATA" and "body" in resp.json()["message"]
        resp = await c.post("/settings", json={"deep": nested(62)}, headers=auth)
        assert resp.status_code == 200, resp.text
        rows = (await c.get("/settings", headers=auth)).json()["rows"]
        assert rows == [["deep", nested(62)]]
        assert svc.core.uow.failures == 0


async def test_options_lists_every_method_and_405_has_its_own_code(sqlite_url: str) -> None:
    """`OPTIONS /settings` lists GET and POST in `Allow`; a wrong method answers 405 with code
    METHOD_NOT_ALLOWED (not NOT_FOUND) in the broker shape, also listing every method."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        resp = await c.options("/settings")
        assert resp.status_code == 204
        assert {"GET", "POST", "OPTIONS"} <= set(resp.headers["allow"].split(", "))
        resp = await c.patch("/settings", json={})
        assert resp.status_code == 405
        assert resp.json() == {"error": "METHOD_NOT_ALLOWED", "message": "Method Not Allowed"}
        assert {"GET", "POST"} <= set(resp.headers["allow"].split(", "))
        resp = await c.request("PATCH", "/script")
        assert resp.status_code == 405
        assert {"POST", "PUT", "DELETE"} <= set(resp.headers["allow"].split(", "))
