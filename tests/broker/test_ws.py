"""The broker WebSocket against a real uvicorn (CONTRACT §3.4), on the broker port and at /ws."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.broker.helpers import broker_settings
from tests.conftest import ADMIN_HEADERS, Live, live_server

TIMEOUT = 5.0


async def recv(ws: ClientConnection) -> Any:
    raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
    return raw if raw in ("pong",) else orjson.loads(raw)


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; the close code."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


async def sync(ws: ClientConnection) -> list[Any]:
    """Send a ping and collect every frame before its pong: all frames the server queued before it."""
    await ws.send("ping")
    frames = []
    while True:
        f = await recv(ws)
        if f == "pong":
            return frames
        frames.append(f)


async def user(http: httpx.AsyncClient, password: str = "secret-pw") -> tuple[int, str]:
    resp = await http.post("/_admin/broker/users", json={"password": password}, headers=ADMIN_HEADERS)
    login = resp.json()["login"]
    resp = await http.post("/sign/in", json={"login": login, "password": password})
    return login, resp.json()["__token"]


async def authorize(url: str, token: str, **extra: Any) -> tuple[ClientConnection, int]:
    ws = await connect(url)
    await ws.send(orjson.dumps({"authorization": token, **extra}).decode())
    reply = await recv(ws)
    assert reply["event"] == "authorization" and reply["success"] is True, reply
    return ws, reply["seq"]


async def deposit(http: httpx.AsyncClient, login: int, amount: float) -> None:
    resp = await http.post(
        f"/_admin/broker/users/{login}/deposit", json={"amount": amount}, headers=ADMIN_HEADERS
    )
    assert resp.status_code == 200, resp.text


def _urls(live: Live) -> tuple[str, str]:
    return live.broker_ws_url, live.ws_base + "/ws"


@pytest.mark.anyio
async def test_two_sessions_get_account_events_in_order_and_no_other_logins(db_url: str) -> None:
    """Sessions of one login (broker port and /ws) both get b/o events in seq order; another login's
    session gets none of them (both DBs)."""
    async with (
        live_server(broker_settings(db_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        login, token = await user(http)
        other_login, other_token = await user(http)
        port_url, main_url = _urls(live)
        a, head_a = await authorize(port_url, token)
        b, head_b = await authorize(main_url, token)
        o, _ = await authorize(port_url, other_token)
        assert head_a == head_b == 0
        await http.post(
            "/_admin/broker/prices",
            json={"symbol": "EURUSD", "bid": 1.1, "ask": 1.1001},
            headers=ADMIN_HEADERS,
        )
        h = {"Authorization": token}
        order = (
            await http.post("/trade/open", json={"cmd": 0, "volume": 10, "symbol": "EURUSD"}, headers=h)
        ).json()["id"]
        await deposit(http, login, 100)
        await http.request("DELETE", "/trade/close", json={"order": order}, headers=h)
        stored = (await http.get(f"/_admin/streams/broker/{login}/events", headers=ADMIN_HEADERS)).json()[
            "events"
        ]
        expected = [e["data"] for e in stored]
        assert [f[0] for f in expected] == ["o", "b", "b", "o", "b"]
        for ws in (a, b):
            got = [await recv(ws) for _ in expected]
            assert got == expected
        await deposit(http, other_login, 1)
        assert await sync(o) == [["b", other_login, 10_001.0, 0.0, 10_001.0, 0.0, 10_001.0, 0.0, 0, 0.0, 5]]
        assert await sync(a) == [] and await sync(b) == []
        for ws in (a, b, o):
            await ws.close()


@pytest.mark.anyio
async def test_resume_with_last_seq_gets_exactly_what_was_missed(db_url: str) -> None:
    """Reconnecting with last_seq L replays L+1…H then continues live, without gap or duplicate (both DBs)."""
    async with (
        live_server(broker_settings(db_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        login, token = await user(http)
        ws, head = await authorize(live.broker_ws_url, token)
        for i in range(3):
            await deposit(http, login, i + 1)
        seen = [await recv(ws) for _ in range(3)]
        await ws.close()
        for i in range(4):
            await deposit(http, login, 10 + i)
        ws, head = await authorize(live.broker_ws_url, token, last_seq=3)
        assert head == 7
        missed = [await recv(ws) for _ in range(4)]
        assert [f[2] for f in missed] == [10_016.0, 10_027.0, 10_039.0, 10_052.0]
        await deposit(http, login, 100)
        assert (await recv(ws))[2] == 10_152.0
        assert await sync(ws) == []
        await ws.close()
        # without last_seq the next frame is H+1; with last_seq 0 everything from 1
        ws, head = await authorize(live.ws_base + "/ws", token)
        await deposit(http, login, 1)
        assert (await recv(ws))[2] == 10_153.0 and head == 8
        await ws.close()
        ws, head = await authorize(live.ws_base + "/ws", token, last_seq=0)
        replay = [await recv(ws) for _ in range(head)]
        assert replay[:3] == seen and [f[0] for f in replay] == ["b"] * 9
        await ws.close()


@pytest.mark.anyio
async def test_quote_ticks_only_for_subscribed_symbols(sqlite_url: str) -> None:
    """subscribe/unsubscribe are case-insensitive; `t` frames come only for subscribed symbols."""
    async with (
        live_server(broker_settings(sqlite_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        _, token = await user(http)
        ws, _ = await authorize(live.broker_ws_url, token)
        await ws.send('{"event":"subscribe","data":["eurusd","BtcUsd"]}')
        assert await sync(ws) == []

        async def price(symbol: str, bid: float, ask: float) -> None:
            await http.post(
                "/_admin/broker/prices",
                json={"symbol": symbol, "bid": bid, "ask": ask},
                headers=ADMIN_HEADERS,
            )

        await price("EURUSD", 1.1, 1.1001)
        await price("GBPUSD", 1.3, 1.3001)
        await price("BTCUSD", 60000, 60030)
        frames = await sync(ws)
        assert [f[:4] for f in frames] == [["t", "EURUSD", 1.1, 1.1001], ["t", "BTCUSD", 60000.0, 60030.0]]
        assert isinstance(frames[0][4], int)
        await ws.send('{"event":"unsubscribe","data":["EURUSD"]}')
        await sync(ws)
        await price("EURUSD", 1.2, 1.2001)
        await price("BTCUSD", 61000, 61030)
        assert [f[1] for f in await sync(ws)] == ["BTCUSD"]
        await ws.send('{"event":"subscribe","data":["NOPE"]}')
        err = await sync(ws)
        assert err[0]["event"] == "error" and err[0]["error"] == "INVALID_DATA"
        await ws.close()


@pytest.mark.anyio
async def test_simulator_ticks_reach_subscribers_on_clock_advance(sqlite_url: str) -> None:
    """With the simulator on and a frozen clock, each advance of one interval sends one tick per symbol."""
    settings = broker_settings(sqlite_url, broker_tick_interval_ms=1000)
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url) as http:
        _, token = await user(http)
        ws, _ = await authorize(live.broker_ws_url, token)
        await ws.send('{"event":"subscribe","data":["EURUSD","US500"]}')
        assert await sync(ws) == []
        await http.post("/_admin/clock", json={"action": "advance", "ms": 3000}, headers=ADMIN_HEADERS)
        frames = await sync(ws)
        assert [f[1] for f in frames] == ["EURUSD", "US500"] * 3
        await ws.close()


@pytest.mark.anyio
async def test_auth_rules_ping_and_malformed_frames(sqlite_url: str) -> None:
    """Before auth only ping and the auth frame; bad token → INVALID_TOKEN + 4401; anything else →
    NOT_AUTHORIZED + 4401; after auth a malformed frame gets INVALID_DATA and the socket stays open."""
    async with (
        live_server(broker_settings(sqlite_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        _, token = await user(http)
        url = live.broker_ws_url
        async with connect(url) as ws:
            await ws.send("ping")
            assert await recv(ws) == "pong"
            await ws.send('{"event":"subscribe","data":["EURUSD"]}')
            assert await recv(ws) == {"event": "error", "error": "NOT_AUTHORIZED"}
            assert await closed_code(ws) == 4401
        async with connect(url) as ws:
            await ws.send('{"authorization":"not-a-token"}')
            assert await recv(ws) == {"event": "authorization", "success": False, "error": "INVALID_TOKEN"}
            assert await closed_code(ws) == 4401
        async with connect(url) as ws:
            await ws.send("{broken")
            assert (await recv(ws))["error"] == "NOT_AUTHORIZED"
            assert await closed_code(ws) == 4401
        ws, _ = await authorize(url, f"Bearer {token}")
        for bad in ("{broken", "[1,2]", '{"event":"subscribe","data":5}', '{"event":"dance"}'):
            await ws.send(bad)
            reply = await recv(ws)
            assert reply["event"] == "error" and reply["error"] == "INVALID_DATA", bad
        await ws.send(b"\x00binary")
        assert (await recv(ws))["error"] == "INVALID_DATA"
        assert await sync(ws) == []
        await ws.close()


@pytest.mark.anyio
async def test_auth_timeout_closes_with_4401(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that never authorizes is closed with 4401 when the auth timeout runs out."""
    from app.routers.broker import ws as ws_module

    monkeypatch.setattr(ws_module, "AUTH_TIMEOUT_S", 0.3)
    async with live_server(broker_settings(sqlite_url)) as live:
        async with connect(live.broker_ws_url) as ws:
            assert await closed_code(ws) == 4401


@pytest.mark.anyio
async def test_password_change_and_sign_out_close_live_sessions(db_url: str) -> None:
    """Sign-out closes that token's sessions (4401) only; a password change closes all of the login's (both DBs)."""
    async with (
        live_server(broker_settings(db_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        login, t1 = await user(http)
        t2 = (await http.post("/sign/in", json={"login": login, "password": "secret-pw"})).json()["__token"]
        s1, _ = await authorize(live.broker_ws_url, t1)
        s2, _ = await authorize(live.ws_base + "/ws", t2)
        assert (await http.post("/sign/out", headers={"Authorization": t1})).status_code == 200
        assert await closed_code(s1) == 4401
        assert await sync(s2) == []
        resp = await http.post(
            "/sign/password",
            json={"old_password": "secret-pw", "new_password": "other-pw"},
            headers={"Authorization": t2},
        )
        assert resp.status_code == 200
        assert await closed_code(s2) == 4401
        async with connect(live.broker_ws_url) as ws:
            await ws.send(orjson.dumps({"authorization": t2}).decode())
            assert (await recv(ws))["error"] == "INVALID_TOKEN"


@pytest.mark.anyio
async def test_control_disconnect_and_slow_consumer(sqlite_url: str) -> None:
    """A control-API disconnect closes the socket; a session whose queue overflows is closed with 4008."""
    settings = broker_settings(sqlite_url, subscriber_queue_max=8)
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url) as http:
        login, token = await user(http)
        ws, _ = await authorize(live.broker_ws_url, token)
        resp = await http.post(f"/_admin/streams/broker/{login}/disconnect", headers=ADMIN_HEADERS)
        assert resp.json()["disconnected"] == 1
        assert await closed_code(ws) == 4000
        await _never_reading_reader_is_cut(live, http, login, token)


async def _never_reading_reader_is_cut(live: Live, http: httpx.AsyncClient, login: int, token: str) -> None:
    """Commits keep coming to a client that reads nothing: once the socket, the account queue
    and the subscription are full, the session is closed with 4008."""
    ws = await connect(live.broker_ws_url, compression=None)  # frames as large on the wire as they are
    await ws.send(orjson.dumps({"authorization": token}).decode())
    assert (await recv(ws))["success"] is True
    ws.transport.pause_reading()  # the client stops reading from TCP
    body = {"kind": "n", "count": 20, "body": {"text": "x" * 60_000}}  # 1.2 MB a commit: buffers fill fast
    async with asyncio.timeout(30):
        while live.ctx.streams.subscriber_count("broker", str(login)):
            resp = await http.post(f"/_admin/streams/broker/{login}/events", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code == 201
    ws.transport.resume_reading()
    assert await closed_code(ws) == 4008


@pytest.mark.anyio
async def test_reader_that_keeps_up_gets_a_commit_larger_than_the_bound(db_url: str) -> None:
    """Regression: one commit of more events than the outbox bound closed a reader that keeps up
    with 4008 before it got any. Now it receives every event of the commit, in order, stays open
    for the next commit, and a reader that reads nothing is still cut off (both DBs)."""
    settings = broker_settings(db_url, subscriber_queue_max=8)
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url) as http:
        login, token = await user(http)
        ws, _ = await authorize(live.broker_ws_url, token)
        for _ in range(2):
            resp = await http.post(
                f"/_admin/streams/broker/{login}/events",
                json={"kind": "n", "count": 500},
                headers=ADMIN_HEADERS,
            )
            assert resp.status_code == 201
            got = [f for f in await sync(ws) if f.get("event") != "t"]
            assert len(got) == 500
        assert len(await sync(ws)) == 0  # still open
        await ws.close()
        await _never_reading_reader_is_cut(live, http, login, token)


@pytest.mark.anyio
async def test_resume_falls_back_to_sql_when_the_ring_no_longer_holds_the_range(db_url: str) -> None:
    """With a 2-event ring, resuming from seq 3 reads 4…5 from SQL and 6…7 from the ring, in order (both DBs)."""
    async with (
        live_server(broker_settings(db_url, ring_max_events=2)) as live,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        login, token = await user(http)
        for i in range(7):
            await deposit(http, login, i + 1)
        ws, head = await authorize(live.broker_ws_url, token, last_seq=3)
        assert head == 7
        frames = [await recv(ws) for _ in range(4)]
        # balances after deposits 4..7: 10000 + 1+2+…+k
        assert [f[2] for f in frames] == [10_010.0, 10_015.0, 10_021.0, 10_028.0]
        await deposit(http, login, 100)
        assert (await recv(ws))[2] == 10_128.0
        assert await sync(ws) == []
        await ws.close()


def test_asyncapi_fragment_is_consistent() -> None:
    """Every operation's message is declared on the channel and in components."""
    from app.routers.broker.asyncapi import asyncapi

    doc = asyncapi()
    channel = doc["channels"]["broker"]
    for op in doc["operations"].values():
        for ref in op["messages"]:
            name = ref["$ref"].rsplit("/", 1)[1]
            assert name in channel["messages"] and name in doc["components"]["messages"]
    assert doc["components"]["schemas"]["brokerBalance"]["maxItems"] == 11
    assert doc["components"]["schemas"]["brokerTrade"]["maxItems"] == 18
