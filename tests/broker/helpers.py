"""Shared helpers of the broker tests: settings, users, prices."""

from __future__ import annotations

from typing import Any

import httpx

from app.config import Settings
from tests.conftest import ADMIN_HEADERS, make_settings


def broker_settings(url: str, **overrides: Any) -> Settings:
    """Test settings: frozen clock, no seed, cheap argon2, quote simulator off unless asked."""
    base: dict[str, Any] = {
        "broker_argon2_memory_kib": 1024,
        "broker_argon2_time_cost": 1,
        "broker_tick_interval_ms": 0,
    }
    base.update(overrides)
    return make_settings(url, **base)


async def new_user(client: httpx.AsyncClient, **body: Any) -> tuple[int, str]:
    """Create a login through the control API and sign it in → (login, token)."""
    payload = {"password": "secret-pw"}
    payload.update(body)
    resp = await client.post("/_admin/broker/users", json=payload, headers=ADMIN_HEADERS)
    assert resp.status_code == 201, resp.text
    login = resp.json()["login"]
    resp = await client.post("/sign/in", json={"login": login, "password": payload["password"]})
    assert resp.status_code == 200, resp.text
    return login, resp.json()["__token"]


async def set_price(client: httpx.AsyncClient, symbol: str, bid: float, ask: float) -> None:
    resp = await client.post(
        "/_admin/broker/prices", json={"symbol": symbol, "bid": bid, "ask": ask}, headers=ADMIN_HEADERS
    )
    assert resp.status_code == 200, resp.text


def rows_as_dicts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(body["structure"], row, strict=True)) for row in body["rows"]]


async def balance(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    resp = await client.get("/account/balance", headers={"Authorization": token})
    assert resp.status_code == 200, resp.text
    return rows_as_dicts(resp.json())[0]


async def trades(client: httpx.AsyncClient, token: str, **params: Any) -> dict[str, Any]:
    resp = await client.get("/trades", params=params, headers={"Authorization": token})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def open_trade(client: httpx.AsyncClient, token: str, **body: Any) -> int:
    resp = await client.post("/trade/open", json=body, headers={"Authorization": token})
    assert resp.status_code == 200, resp.text
    order: int = resp.json()["id"]
    return order


async def events(client: httpx.AsyncClient, login: int) -> list[list[Any]]:
    """Every account event of a login, in seq order (through the control API's stream read)."""
    resp = await client.get(f"/_admin/streams/broker/{login}/events", headers=ADMIN_HEADERS)
    assert resp.status_code == 200, resp.text
    return [e["data"] for e in resp.json()["events"]]
