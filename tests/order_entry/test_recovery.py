"""The documented startup and recovery sequence (snapshot → WebSocket → gap-fill from the
snapshot seq → apply deltas monotonically), run by a real client against a real uvicorn while
a seeded random order flow runs and the control API cuts the connection (disconnect) and
withholds events (skip) at random points. The client's view must end equal to the server's."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_HEADERS, Live, live_server, make_settings
from tests.order_entry.helpers import OE, RICH, new_agent

pytestmark = pytest.mark.anyio
MARKETS = ((1, 65_000, 10, 1), (3, 150, 1, 10))  # market, mid, tick, minQty


class RecoveringClient:
    """Keeps an account's open orders and fills from the execution stream, recovering from
    cuts and gaps the documented way. Applies each seq exactly once, in order."""

    def __init__(self, live: Live, agent: OE, rng: random.Random) -> None:
        self.live = live
        self.agent = agent
        self.rng = rng
        self.orders: dict[str, tuple[int, int, str, int | None]] = {}
        self.fills: dict[str, tuple[int, int]] = {}
        self.last = 0
        self.reconnects = 0
        self.gap_fills = 0
        self.from_ws = 0

    def apply(self, frame: dict[str, Any]) -> None:
        seq = frame["seq"]
        assert seq == self.last + 1, f"applying {seq} after {self.last}"
        d = frame["data"]
        assert d["seq"] == seq and frame["prevSeq"] == seq - 1
        oid, status = d["orderId"], d["status"]
        if status in ("NEW", "PARTIALLY_FILLED", "REPLACED"):
            prev = self.orders.get(oid)
            price = d["price"] if d["price"] is not None else (prev[3] if prev else None)
            self.orders[oid] = (d["leavesQty"], d["cumQty"], status, price)
        elif status in ("FILLED", "CANCELED", "EXPIRED"):
            self.orders.pop(oid, None)
        if d["fillId"] is not None:
            assert d["fillId"] not in self.fills, "a fill applied twice"
            self.fills[d["fillId"]] = (d["filledQty"], d["fillPrice"])
        self.last = seq

    async def gap_fill(self, upto: int | None = None) -> None:
        """Fetch and apply every event after `last` (up to `upto` when given)."""
        self.gap_fills += 1
        while upto is None or self.last < upto:
            page = await self.agent.executions(self.last + 1, self.rng.choice((3, 50, 1000)))
            for ev in page["events"]:
                if ev["seq"] == self.last + 1 and (upto is None or ev["seq"] <= upto):
                    self.apply(ev)
            if not page["hasMore"] or not page["events"]:
                return

    async def start(self) -> None:
        snap = await self.agent.open_orders()
        self.orders = {
            o["orderId"]: (o["leavesQty"], o["cumQty"], o["status"], o["price"]) for o in snap["orders"]
        }
        self.last = snap["seq"]

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if "op" in frame:
            return
        seq = frame["seq"]
        if seq <= self.last:
            return  # a replayed event: already applied
        if seq > self.last + 1:
            await self.gap_fill(seq - 1)  # a gap: recover before applying anything after it
        self.apply(frame)
        self.from_ws += 1

    async def run(self) -> None:
        """Connect, catch up, follow; on any close, reconnect and resume from `last`. The token
        goes in the query or in the first frame, at random."""
        first = True
        while True:
            token = await self.agent.ws_token()
            url = f"{self.live.ws_base}/api/v1/ws/private/{self.agent.account}"
            resume_by_ws = not first and self.rng.random() < 0.5
            by_frame = self.rng.random() < 0.5
            if not by_frame:
                url += f"?token={token}" + (f"&fromSeq={self.last + 1}" if resume_by_ws else "")
            try:
                async with connect(url) as ws:
                    if by_frame:
                        auth: dict[str, Any] = {"op": "authenticate", "token": token}
                        if resume_by_ws:
                            auth["fromSeq"] = self.last + 1
                        await ws.send(orjson.dumps(auth).decode())
                        hello = orjson.loads(await ws.recv())
                        assert hello["op"] == "authenticated"
                    if not resume_by_ws:
                        await self.gap_fill()  # from the snapshot / last seq up to the stream's head
                    async for raw in ws:
                        await self.on_frame(orjson.loads(raw))
            except ConnectionClosed:
                pass
            first = False
            self.reconnects += 1


async def flow(rng: random.Random, a: OE, b: OE, batches: int) -> None:
    mine: list[tuple[int, str]] = []
    for _ in range(batches):
        who = a if rng.random() < 0.6 else b
        acts = []
        for _ in range(rng.randint(1, 4)):
            market, mid, tick, lot = rng.choice(MARKETS)
            roll = rng.random()
            if who is a and mine and roll < 0.2:
                m, oid = rng.choice(mine)
                acts.append(a.action("SpotCancelOrder", {"market": m, "orderId": oid}))
            elif who is a and mine and roll < 0.35:
                m, oid = rng.choice(mine)
                mid_, tick_ = next((x[1], x[2]) for x in MARKETS if x[0] == m)
                acts.append(
                    a.action(
                        "SpotReplaceOrder",
                        {"market": m, "orderId": oid, "price": mid_ + rng.randint(-6, 6) * tick_},
                    )
                )
            elif who is a and roll < 0.38:
                acts.append(a.action("SpotCancelAll", {"market": market}))
            else:
                fields = {
                    "market": market,
                    "side": rng.choice(("Bid", "Ask")),
                    "price": mid + rng.randint(-6, 6) * tick,
                    "qty": rng.randint(1, 80) * lot,
                    "timeInForce": rng.choice(("gtc", "gtc", "ioc", "fok", "post_only")),
                }
                acts.append(who.action("SpotPlaceOrder", fields))
        resp = await who.batch(acts)
        assert resp.status_code == 200, resp.text
        if who is a:
            for act, res in zip(acts, resp.json()["results"], strict=True):
                if res["accepted"] and "SpotPlaceOrder" in act["payload"]["action"]:
                    mine.append((act["payload"]["action"]["SpotPlaceOrder"]["market"], res["orderId"]))
        await asyncio.sleep(0)


async def chaos(rng: random.Random, client: httpx.AsyncClient, account: str, stop: asyncio.Event) -> int:
    cuts = 0
    while not stop.is_set():
        for _ in range(rng.randint(1, 6)):
            await asyncio.sleep(0)  # let the flow and the client make progress (no timing)
        if rng.random() < 0.5:
            await client.post(f"/_admin/streams/order-entry/{account}/disconnect", headers=ADMIN_HEADERS)
        else:
            await client.post(
                f"/_admin/streams/order-entry/{account}/skip",
                json={"count": rng.randint(1, 3)},
                headers=ADMIN_HEADERS,
            )
        cuts += 1
        await asyncio.sleep(rng.uniform(0, 0.02))
    return cuts


async def run_seed(url: str, seed: int, batches: int) -> None:
    rng = random.Random(seed)
    settings = make_settings(url, oe_liquidity="on", ring_max_events=rng.choice((8, 64, 10_000)))
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url) as http:
        svc = live.ctx.services["order-entry"]
        a = await new_agent(http, fund=RICH)
        b = await new_agent(http, fund=RICH)
        await flow(rng, a, b, 3)  # some history before the client starts
        rc = RecoveringClient(live, a, random.Random(seed + 1000))
        await rc.start()
        start_seq = rc.last
        stop = asyncio.Event()
        client_task = asyncio.create_task(rc.run())
        chaos_task = asyncio.create_task(chaos(random.Random(seed + 7), http, a.account, stop))
        try:
            await flow(rng, a, b, batches)
            await svc.drain()
        finally:
            stop.set()
            cuts = await chaos_task
            client_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client_task
        await rc.gap_fill()  # the client's own final recovery step
        snap = await a.open_orders()
        assert rc.last == snap["seq"]
        server_orders = {
            o["orderId"]: (o["leavesQty"], o["cumQty"], o["status"], o["price"]) for o in snap["orders"]
        }
        assert rc.orders == server_orders
        all_events = await a.all_events()
        assert [e["seq"] for e in all_events] == list(range(1, snap["seq"] + 1))
        server_fills = {
            e["data"]["fillId"]: (e["data"]["filledQty"], e["data"]["fillPrice"])
            for e in all_events
            if e["data"]["fillId"] is not None and e["seq"] > start_seq
        }
        assert rc.fills == server_fills
        assert server_fills, "the flow should trade"
        assert cuts > 0 and rc.reconnects > 0 and rc.from_ws > 0


@pytest.mark.parametrize("seed", range(12))
async def test_recovery_sequence_under_cuts(sqlite_url: str, seed: int) -> None:
    """Snapshot → WS → gap-fill → monotonic apply ends equal to the server, whatever the cuts."""
    await run_seed(sqlite_url, seed, 40)


async def test_recovery_sequence_both_databases(db_url: str) -> None:
    """The same recovery run on SQLite and PostgreSQL."""
    await run_seed(db_url, 99, 30)
