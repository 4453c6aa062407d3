"""The private execution WebSocket (CONTRACT §4.5) against a real uvicorn: token in the query
or the first frame, replay then live without gap or duplicate, heartbeat, close codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_HEADERS, Live, live_server, make_settings
from tests.order_entry.helpers import OE, RICH, new_agent

pytestmark = pytest.mark.anyio
BTC = 1


async def recv(ws: ClientConnection, wait: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(wait):
        frame: dict[str, Any] = orjson.loads(await ws.recv())
        return frame


async def close_code(ws: ClientConnection, wait: float = 5.0) -> tuple[int | None, str]:
    """Read until the server closes; the close code and reason."""
    async with asyncio.timeout(wait):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code if rcvd else None), (rcvd.reason if rcvd else "")


@asynccontextmanager
async def server(**overrides: Any) -> AsyncIterator[tuple[Live, httpx.AsyncClient]]:
    async with live_server(make_settings(overrides.pop("url"), **overrides)) as live:
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            yield live, client


def ws_url(live: Live, account: str, query: str = "", alias: bool = False) -> str:
    kind = "bsl" if alias else "private"
    return f"{live.ws_base}/api/v1/ws/{kind}/{account}" + (f"?{query}" if query else "")


@asynccontextmanager
async def session(live: Live, a: OE, from_seq: int | None = None) -> AsyncIterator[ClientConnection]:
    """A session authenticated by the first frame: once `authenticated` arrives, every event
    committed from then on is delivered."""
    frame: dict[str, Any] = {"op": "authenticate", "token": await a.ws_token()}
    if from_seq is not None:
        frame["fromSeq"] = from_seq
    async with connect(ws_url(live, a.account)) as ws:
        await ws.send(orjson.dumps(frame).decode())
        hello = await recv(ws)
        assert hello["op"] == "authenticated" and hello["account"] == a.account
        yield ws


async def orders(a: OE, n: int, price: int = 10) -> None:
    for _ in range(n):
        await a.place(BTC, "Bid", price, 1)


async def test_replay_then_live_no_gap(db_url: str) -> None:
    """fromSeq replays every event ≥ N (envelope of §4.5), then continues live with no gap and no
    duplicate; with a query token the events are the first frames."""
    async with server(url=db_url) as (live, client):
        a = await new_agent(client, fund=RICH)
        await orders(a, 4)
        svc = live.ctx.services["order-entry"]
        await svc.drain()
        token = await a.ws_token()
        async with connect(ws_url(live, a.account, f"token={token}&fromSeq=2")) as ws:
            got = [await recv(ws) for _ in range(3)]
            assert [f["seq"] for f in got] == [2, 3, 4]
            f = got[0]
            assert set(f) == {
                "channel",
                "account",
                "seq",
                "prevSeq",
                "schemaId",
                "schemaVersion",
                "schemaEncoding",
                "ts",
                "data",
            }
            assert (f["channel"], f["schemaId"], f["schemaVersion"], f["schemaEncoding"]) == (
                "executions",
                "executions.v1",
                1,
                "json",
            )
            assert f["prevSeq"] == 1 and f["data"]["seq"] == 2 and f["data"]["prevSeq"] == 1
            for k in (
                "clientOrderId",
                "orderId",
                "status",
                "filledQty",
                "cumQty",
                "leavesQty",
                "fillId",
                "fillPrice",
                "rejectCode",
                "market",
                "shard",
                "engineTsMs",
                "serverTsMs",
            ):
                assert k in f["data"], k
            await orders(a, 3)
            more = [await recv(ws) for _ in range(3)]
            assert [m["seq"] for m in more] == [5, 6, 7]
            assert all(m["prevSeq"] == m["seq"] - 1 for m in more)


async def test_auth_frame_and_alias(sqlite_url: str) -> None:
    """Without a query token the first frame authenticates (with fromSeq); the bsl alias works."""
    async with server(url=sqlite_url) as (live, client):
        a = await new_agent(client, fund=RICH)
        await orders(a, 2)
        await live.ctx.services["order-entry"].drain()
        token = await a.ws_token()
        async with connect(ws_url(live, a.account, alias=True)) as ws:
            await ws.send(orjson.dumps({"op": "authenticate", "token": token, "fromSeq": 1}).decode())
            hello = await recv(ws)
            assert hello["op"] == "authenticated" and hello["account"] == a.account
            assert hello["sessionId"].startswith("sess_")
            assert [(await recv(ws))["seq"] for _ in range(2)] == [1, 2]
            await ws.send(orjson.dumps({"op": "ping", "ts": 5}).decode())
            assert await recv(ws) == {"op": "pong", "ts": 5}


async def test_token_refusals_close_4401(sqlite_url: str) -> None:
    """Reused, expired (domain clock), unknown, other-account tokens and a wrong first frame →
    close 4401 with a reason saying which."""
    async with server(url=sqlite_url, oe_ws_token_ttl_ms=60_000) as (live, client):
        a = await new_agent(client, fund=RICH)
        b = await new_agent(client)
        token = await a.ws_token()
        async with connect(ws_url(live, a.account, f"token={token}&fromSeq=1")) as ws:
            await orders(a, 1)
            assert (await recv(ws))["seq"] == 1  # open: its first frame is the event
        async with connect(ws_url(live, a.account, f"token={token}")) as ws:
            assert await close_code(ws) == (4401, "token already used")
        async with connect(ws_url(live, a.account, "token=wst_nope")) as ws:
            assert await close_code(ws) == (4401, "unknown token")
        token = await a.ws_token()
        async with connect(ws_url(live, b.account, f"token={token}")) as ws:
            assert await close_code(ws) == (4401, "token is for another account")
        token = await a.ws_token()
        resp = await client.post(
            "/_admin/clock", json={"action": "advance", "ms": 60_001}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 200
        async with connect(ws_url(live, a.account, f"token={token}")) as ws:
            assert await close_code(ws) == (4401, "token expired")
        async with connect(ws_url(live, a.account)) as ws:
            await ws.send('{"op":"subscribe"}')
            code, _ = await close_code(ws)
            assert code == 4401


async def test_heartbeat_pong_keeps_alive_and_silence_closes_4000(sqlite_url: str) -> None:
    """The server pings every interval; answering keeps the session open, silence closes 4000."""
    async with server(url=sqlite_url, oe_ws_ping_interval_ms=50, oe_ws_pong_timeout_ms=500) as (live, client):
        a = await new_agent(client, fund=RICH)
        async with session(live, a) as ws:
            for _ in range(4):
                ping = await recv(ws)
                assert ping["op"] == "ping" and isinstance(ping["ts"], int)
                await ws.send(orjson.dumps({"op": "pong", "ts": ping["ts"]}).decode())
            await orders(a, 1)
            while (f := await recv(ws)).get("op") == "ping":
                await ws.send(orjson.dumps({"op": "pong", "ts": f["ts"]}).decode())
            assert f["seq"] == 1
        async with session(live, a) as ws:
            code, _ = await close_code(ws)
            assert code == 4000


async def test_control_disconnect_and_skip(sqlite_url: str) -> None:
    """Control-API disconnect closes the socket (1012 + reason); skip makes a live subscriber meet
    a real gap, which gap-fill then closes."""
    async with server(url=sqlite_url) as (live, client):
        a = await new_agent(client, fund=RICH)
        async with session(live, a) as ws:
            await orders(a, 1)
            assert (await recv(ws))["seq"] == 1
            resp = await client.post(
                f"/_admin/streams/order-entry/{a.account}/skip", json={"count": 2}, headers=ADMIN_HEADERS
            )
            assert resp.status_code == 200
            await orders(a, 3)
            nxt = await recv(ws)
            assert nxt["seq"] == 4 and nxt["prevSeq"] == 3  # 2 and 3 were withheld: a gap
            fill = await a.executions(2, 2)
            assert [e["seq"] for e in fill["events"]] == [2, 3] and fill["hasMore"] is True
            resp = await client.post(
                f"/_admin/streams/order-entry/{a.account}/disconnect", headers=ADMIN_HEADERS
            )
            assert resp.json()["disconnected"] == 1
            code, reason = await close_code(ws)
            assert code == 1012 and reason


async def test_slow_consumer_resync_required(sqlite_url: str) -> None:
    """A subscriber the server had to drop gets {"op":"resync_required","fromSeq":N}, then 4008."""
    async with server(url=sqlite_url, subscriber_queue_max=2) as (live, client):
        a = await new_agent(client, fund=RICH)
        async with session(live, a) as ws:
            # a commit larger than the bound reaches a reader that keeps up (§1.5): make this
            # reader one that has already left its whole bound unread
            for sub in live.ctx.streams.hub.states[("order-entry", a.account)].subscribers:
                sub.queue_max = 0
            await a.batch(
                [
                    a.action("SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 5, "qty": 1})
                    for _ in range(5)
                ]
            )
            frame = await recv(ws)
            assert frame == {"op": "resync_required", "fromSeq": 1}
            code, _ = await close_code(ws)
            assert code == 4008


async def test_revoked_key_closes_its_sessions(sqlite_url: str) -> None:
    """Revoking the key that minted a session's token closes that session at once (4401)."""
    async with server(url=sqlite_url) as (live, client):
        a = await new_agent(client, fund=RICH)
        async with session(live, a) as ws:
            resp = await client.delete(
                f"/_admin/order-entry/agents/{a.creds.api_key_id}", headers=ADMIN_HEADERS
            )
            assert resp.status_code == 200
            assert await close_code(ws) == (4401, "api key revoked")


async def test_resume_from_sql_then_live(db_url: str) -> None:
    """With a 3-event ring, a WebSocket resuming from seq 1 is served from SQL, runs into the ring
    and then live, in order, with no gap or duplicate; a malformed fromSeq closes 4400."""
    async with server(url=db_url, ring_max_events=3) as (live, client):
        a = await new_agent(client, fund=RICH)
        await a.batch(
            [
                a.action("SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 3, "qty": 1})
                for _ in range(8)
            ]
        )
        await live.ctx.services["order-entry"].drain()
        async with connect(ws_url(live, a.account, f"token={await a.ws_token()}&fromSeq=1")) as ws:
            assert [(await recv(ws))["seq"] for _ in range(8)] == list(range(1, 9))
            await orders(a, 2, price=4)
            assert [(await recv(ws))["seq"] for _ in range(2)] == [9, 10]
        async with connect(ws_url(live, a.account, f"token={await a.ws_token()}&fromSeq=abc")) as ws:
            code, _ = await close_code(ws)
            assert code == 4400


async def test_ws_from_seq_past_int64_closes_4400(sqlite_url: str) -> None:
    """Regression: a stream position beyond 64 bits reached the replay; it is refused like any
    malformed fromSeq, in the query or in the first frame (4400)."""
    async with server(url=sqlite_url) as (live, client):
        a = await new_agent(client, fund=RICH)
        async with connect(ws_url(live, a.account, f"token={await a.ws_token()}&fromSeq={2**64}")) as ws:
            assert (await close_code(ws))[0] == 4400
        async with connect(ws_url(live, a.account)) as ws:
            token = await a.ws_token()
            await ws.send(json.dumps({"op": "authenticate", "token": token, "fromSeq": 2**63}))
            assert (await close_code(ws))[0] == 4400
