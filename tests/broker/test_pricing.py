"""The quote simulator fast-forwards (CONTRACT §6): a clock advance replays its steps in bulk,
with the same outcomes as stepping one interval at a time, without blocking the server."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from typing import Any

import httpx
import pytest

from tests.broker.helpers import broker_settings, events, new_user, open_trade
from tests.conftest import ADMIN_HEADERS, live_server, running_app

pytestmark = pytest.mark.anyio

DAY_MS = 86_400_000


async def _quotes(c: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    resp = await c.get("/_admin/broker/prices", headers=ADMIN_HEADERS)
    return {p["symbol"]: p for p in resp.json()["prices"]}


async def _positions_and_alerts(c: httpx.AsyncClient) -> tuple[int, str]:
    """A login with positions whose SL/TP sit close to the market, a pending order and alerts."""
    login, token = await new_user(c, balance=100_000)
    q = await _quotes(c)
    eur, gbp, jpy, xau = q["EURUSD"], q["GBPUSD"], q["USDJPY"], q["XAUUSD"]
    await open_trade(
        c,
        token,
        cmd=0,
        volume=100,
        symbol="EURUSD",
        sl=round(eur["bid"] - 0.0003, 5),
        tp=round(eur["bid"] + 0.0003, 5),
    )
    await open_trade(
        c,
        token,
        cmd=1,
        volume=100,
        symbol="GBPUSD",
        sl=round(gbp["ask"] + 0.0004, 5),
        tp=round(gbp["ask"] - 0.0004, 5),
    )
    await open_trade(c, token, cmd=2, volume=100, symbol="USDJPY", open_price=round(jpy["ask"] - 0.01, 3))
    for condition, target in ((0, xau["bid"] + 0.5), (1, xau["bid"] - 0.5)):
        resp = await c.put(
            "/price_alert",
            json={"symbol": "XAUUSD", "side": 0, "condition": condition, "target_price": round(target, 2)},
            headers={"Authorization": token},
        )
        assert resp.status_code == 200, resp.text
    return login, token


async def _advance(c: httpx.AsyncClient, ms: int) -> float:
    started = time.perf_counter()
    resp = await c.post("/_admin/clock", json={"action": "advance", "ms": ms}, headers=ADMIN_HEADERS)
    assert resp.status_code == 200, resp.text
    return time.perf_counter() - started


async def test_a_bulk_advance_fires_sl_tp_pending_and_alerts_where_stepping_does(
    sqlite_url: str, tmp_path: Any
) -> None:
    """Ten minutes advanced in one call give exactly the account events (closes at SL/TP with
    their times and prices, the pending activation, the alert triggers) and the final price of
    the symbol with an open position that 600 advances of one second give."""
    settings = broker_settings(sqlite_url, broker_tick_interval_ms=1000)
    async with running_app(settings):
        pass  # migrate and persist the frozen clock: both copies start at the same instant
    path = sqlite_url.removeprefix("sqlite:///")
    copies = [f"{tmp_path}/bulk.db", f"{tmp_path}/steps.db"]
    for copy in copies:
        shutil.copy(path, copy)

    async def run(url: str, step_ms: int) -> tuple[list[Any], dict[str, Any]]:
        async with running_app(broker_settings(url, broker_tick_interval_ms=1000)) as r:
            login, _ = await _positions_and_alerts(r.client)
            for _ in range(600_000 // step_ms):
                await _advance(r.client, step_ms)
            # USDJPY carries a position all along; a symbol nothing depends on walks its path in
            # one draw per batch of steps when fast-forwarded, so only watched symbols compare
            return await events(r.client, login), (await _quotes(r.client))["USDJPY"]

    bulk = await run(f"sqlite:///{copies[0]}", 600_000)
    steps = await run(f"sqlite:///{copies[1]}", 1000)
    assert bulk == steps
    frames = bulk[0]
    codes = [f[-1] for f in frames if f[0] == "o"]
    assert {1, 2} & set(codes), "an SL or TP close"
    assert any(f[0] == "o" and f[12] == 3 for f in frames), "the pending order activated"
    assert any(f[0] == "a" for f in frames), "an alert fired"


async def test_a_one_day_advance_answers_within_2s_and_health_keeps_answering(sqlite_url: str) -> None:
    """On a live server, advancing the clock by one day (86,400 simulator steps, with positions,
    a pending order and alerts on the path) answers within 2 s, and /health keeps answering
    meanwhile: the longest gap between two /health answers stays far below the advance."""
    settings = broker_settings(sqlite_url, broker_tick_interval_ms=1000)
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url) as c:
        await _positions_and_alerts(c)
        answers: list[float] = []
        done = asyncio.Event()

        async def poll_health() -> None:
            async with httpx.AsyncClient(base_url=live.base_url) as h:
                while not done.is_set():
                    assert (await h.get("/health")).status_code == 200
                    answers.append(time.perf_counter())
                    await asyncio.sleep(0.002)  # sampling pace: the poller shares the server's CPU

        poller = asyncio.create_task(poll_health())
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        elapsed = await _advance(c, DAY_MS)
        finished = time.perf_counter()
        done.set()
        await poller
        during = [started] + [t for t in answers if started <= t <= finished] + [finished]
        longest_gap = max(b - a for a, b in itertools.pairwise(during))
        print(f"one-day advance: {elapsed:.3f} s, longest /health gap {longest_gap * 1000:.1f} ms")
        assert elapsed < 2.0
        assert longest_gap < 0.25
        assert len(during) > 2  # /health answered during the advance
        snap = (await c.get("/_admin/clock", headers=ADMIN_HEADERS)).json()
        quotes = await _quotes(c)
        assert all(q["ctm"] * 1000 <= snap["now_ms"] < (q["ctm"] + 2) * 1000 for q in quotes.values())
