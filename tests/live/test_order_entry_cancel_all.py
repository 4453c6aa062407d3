"""The Order Entry cancel-all burst on a real uvicorn (CONTRACT §1.5): one SpotCancelAll of
thousands of open orders reaches a private WebSocket reader that keeps up in full."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from tests.conftest import live_server, make_settings
from tests.order_entry.helpers import RICH, new_agent
from tests.order_entry.test_ws import session

pytestmark = pytest.mark.anyio
BTC = 1
OPEN = 6_000
PER_BATCH = 500


async def test_cancel_all_of_6000_orders_reaches_a_reader_that_keeps_up(db_url: str) -> None:
    """Regression: with 6,000 open orders one SpotCancelAll closed a live private WebSocket with
    4008 before it received a single CANCELED event (the commit was larger than the subscriber's
    queue). Now the reader gets all 6,000 CANCELED events, in order, with contiguous seqs, and
    the connection stays open (both DBs; the default 4,096-event bound)."""
    settings = make_settings(db_url)
    assert settings.subscriber_queue_max < OPEN
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=60) as client:
        a = await new_agent(client, fund=RICH)
        for b in range(OPEN // PER_BATCH):
            actions = [
                a.action("SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 10 + b, "qty": 1})
                for _ in range(PER_BATCH)
            ]
            resp = await a.batch(actions)
            assert resp.status_code == 200, resp.text
        await live.ctx.services["order-entry"].drain()
        snapshot = await a.get(f"/api/v1/order-entry/accounts/{a.account}/open-orders")
        body = snapshot.json()
        assert len(body["orders"]) == OPEN
        head = body["seq"]
        async with session(live, a) as ws:
            resp = await a.batch([a.action("SpotCancelAll", {})])
            assert resp.status_code == 200, resp.text
            frames = []
            async with asyncio.timeout(60):
                while len(frames) < OPEN:
                    frame = orjson.loads(await ws.recv())
                    assert "op" not in frame, frame  # no resync_required
                    frames.append(frame)
            assert [f["seq"] for f in frames] == list(range(head + 1, head + OPEN + 1))
            assert all(f["prevSeq"] == f["seq"] - 1 for f in frames)
            assert {f["data"]["status"] for f in frames} == {"CANCELED"}
            assert len({f["data"]["orderId"] for f in frames}) == OPEN
            # still open: a ping is answered
            await ws.send(orjson.dumps({"op": "ping", "ts": 1}).decode())
            async with asyncio.timeout(10):
                assert orjson.loads(await ws.recv()) == {"op": "pong", "ts": 1}
