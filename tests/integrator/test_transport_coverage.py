"""Client coverage from the stream transports (CONTRACT §7.1) on a real uvicorn: a client that
is cut and resumes, meets a gap and recovers it, is closed as too slow and reconnects, is
refused a token as expired and refreshes it — each seen in GET /_admin/coverage for its caller,
on Musubi SSE, the broker WebSocket, the Order Entry WebSocket and gap-fill, and FIX."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.broker.helpers import broker_settings
from tests.broker.test_ws import authorize, closed_code, sync, user
from tests.conftest import ADMIN_HEADERS, Live, live_server, make_settings, wait_for
from tests.musubi.helpers import participant
from tests.order_entry.helpers import RICH, new_agent
from tests.order_entry.test_fix import drop_copy_agent, fix_server, logged_on, reconnect
from tests.order_entry.test_ws import close_code, recv, session, ws_url

pytestmark = pytest.mark.anyio
BTC = 1


async def recovery(client: httpx.AsyncClient, family: str, caller: str) -> dict[str, bool]:
    r = await client.get(
        "/_admin/coverage", params={"family": family, "caller": caller}, headers=ADMIN_HEADERS
    )
    assert r.status_code == 200, r.text
    return {k: v["met"] for k, v in r.json()["families"][family]["recovery"].items()}


async def streams_of(client: httpx.AsyncClient, family: str, caller: str) -> dict[str, Any]:
    r = await client.get(
        "/_admin/coverage", params={"family": family, "caller": caller}, headers=ADMIN_HEADERS
    )
    out: dict[str, Any] = r.json()["families"][family]["streams"]
    return out


async def control(client: httpx.AsyncClient, family: str, stream: str, action: str, body: Any = None) -> None:
    r = await client.post(f"/_admin/streams/{family}/{stream}/{action}", json=body, headers=ADMIN_HEADERS)
    assert r.status_code in (200, 201), r.text


def starve(live: Live, family: str, stream: str) -> None:
    """Make the stream's live subscribers ones that have left their whole bound unread."""
    for sub in live.ctx.streams.hub.states[(family, stream)].subscribers:
        sub.queue_max = 0


# --- Order Entry: WebSocket, gap-fill, idempotencyKey, chaos token expiry ------------------------
async def test_order_entry_ws_cut_gap_slow_and_idempotency_key(db_url: str) -> None:
    """Cut then resumed with fromSeq → resume_after_cut; a skip recovered by a gap-fill read →
    gap_recovered; 4008 then a new session → reconnect_after_slow_consumer; the batch body's
    idempotencyKey twice → idempotent_retry; all for the caller's apiKeyId (both DBs)."""
    async with (
        live_server(make_settings(db_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as client,
    ):
        a = await new_agent(client, fund=RICH)
        me = a.creds.api_key_id
        assert not any((await recovery(client, "order-entry", me)).values())
        async with session(live, a) as ws:
            await a.place(BTC, "Bid", 10, 1)
            assert (await recv(ws))["seq"] == 1
            await control(client, "order-entry", a.account, "disconnect")
            assert (await close_code(ws))[0] == 1012
        assert not (await recovery(client, "order-entry", me))["resume_after_cut"]
        async with session(live, a, from_seq=2) as ws:
            assert (await recovery(client, "order-entry", me))["resume_after_cut"]
            await control(client, "order-entry", a.account, "skip", {"count": 1})
            await a.place(BTC, "Bid", 11, 1)
            await a.place(BTC, "Bid", 12, 1)
            assert (await recv(ws))["seq"] == 3  # 2 was withheld
            assert not (await recovery(client, "order-entry", me))["gap_recovered"]
            assert [e["seq"] for e in (await a.executions(2, 1))["events"]] == [2]
            assert (await recovery(client, "order-entry", me))["gap_recovered"]
            starve(live, "order-entry", a.account)
            await a.place(BTC, "Bid", 13, 1)
            assert (await recv(ws))["op"] == "resync_required"
            assert (await close_code(ws))[0] == 4008
        assert not (await recovery(client, "order-entry", me))["reconnect_after_slow_consumer"]
        async with session(live, a, from_seq=4):
            assert (await recovery(client, "order-entry", me))["reconnect_after_slow_consumer"]
        chan = (await streams_of(client, "order-entry", me))["orderEntryPrivate"]
        assert chan["subscriptions"] == 3 and chan["gap_fills"] == 1 and sum(chan["resumes"].values()) == 2
        assert chan["kinds"]

        action = a.action("SpotPlaceOrder", {"market": BTC, "side": "Bid", "price": 5, "qty": 1})
        for _ in range(2):
            resp = await a.batch([action], key="retry-1")
            assert resp.status_code == 200, resp.text
        assert (await recovery(client, "order-entry", me))["idempotent_retry"]


async def test_order_entry_ws_token_expired_by_chaos_then_refreshed(sqlite_url: str) -> None:
    """With tokens.expire_rate 1 a valid WebSocket token is refused as expired (4401 "token
    expired"); the client asks for a new token (2xx) → token_refresh_after_expiry."""
    async with (
        live_server(make_settings(sqlite_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as client,
    ):
        a = await new_agent(client, fund=RICH)
        chaos = {"seed": 5, "families": ["order-entry"], "tokens": {"expire_rate": 1}}
        assert (await client.post("/_admin/chaos", json=chaos, headers=ADMIN_HEADERS)).status_code == 200
        async with connect(ws_url(live, a.account, f"token={await a.ws_token()}")) as ws:
            code, reason = await close_code(ws)
            assert code == 4401 and "expired" in reason
        assert not (await recovery(client, "order-entry", a.creds.api_key_id))["token_refresh_after_expiry"]
        await a.ws_token()
        assert (await recovery(client, "order-entry", a.creds.api_key_id))["token_refresh_after_expiry"]


# --- Musubi SSE ------------------------------------------------------------------------------------
async def sse_ids(lines: AsyncIterator[str], n: int) -> list[int]:
    """The next `n` event ids of an open SSE answer (heartbeats skipped)."""
    ids: list[int] = []
    async with asyncio.timeout(5):
        async for line in lines:
            if line.startswith("id: "):
                ids.append(int(line[4:]))
                if len(ids) == n:
                    return ids
    return ids


async def sse_ended(lines: AsyncIterator[str]) -> None:
    async with asyncio.timeout(5):
        async for _ in lines:
            pass


async def test_musubi_sse_cut_gap_and_slow(db_url: str) -> None:
    """Musubi SSE: cut then resumed with Last-Event-ID → resume_after_cut; resumed from at or
    below a skipped seq → gap_recovered; ended as too slow then reopened →
    reconnect_after_slow_consumer (both DBs)."""
    async with (
        live_server(make_settings(db_url, musubi_sse_heartbeat_ms=60_000)) as live,
        httpx.AsyncClient(base_url=live.base_url, timeout=10) as client,
    ):
        si = await participant(client, "SenderInst", "institution")
        me = si.party_id
        url = "/api/v1/orders/events"

        async def note(count: int = 1) -> None:
            await control(client, "musubi", me, "events", {"kind": "note", "count": count})

        async with client.stream("GET", url, headers=si.h) as resp:
            lines = resp.aiter_lines()
            await wait_for(lambda: live.ctx.streams.subscriber_count("musubi", me) == 1)
            await note()
            assert await sse_ids(lines, 1) == [1]
            await control(client, "musubi", me, "disconnect")
            await sse_ended(lines)
        assert not (await recovery(client, "musubi", me))["resume_after_cut"]
        await control(client, "musubi", me, "skip", {"count": 1})
        await note(2)  # seq 2 withheld, 3 not
        async with client.stream("GET", url, headers={**si.h, "Last-Event-ID": "1"}) as resp:
            lines = resp.aiter_lines()
            assert await sse_ids(lines, 2) == [2, 3]
            met = await recovery(client, "musubi", me)
            assert met["resume_after_cut"] and met["gap_recovered"]
            starve(live, "musubi", me)
            await note()
            await sse_ended(lines)
        assert not (await recovery(client, "musubi", me))["reconnect_after_slow_consumer"]
        async with client.stream("GET", url, headers={**si.h, "Last-Event-ID": "3"}) as resp:
            assert await sse_ids(resp.aiter_lines(), 1) == [4]
            assert (await recovery(client, "musubi", me))["reconnect_after_slow_consumer"]
        chan = (await streams_of(client, "musubi", me))["musubiOrderEvents"]
        assert chan["subscriptions"] == 3 and chan["kinds"]["note"] >= 4


async def test_musubi_token_expired_by_chaos_same_for_a_seed(sqlite_url: str) -> None:
    """Chaos refuses valid tokens as expired (401 "token expired"), the same checks for the same
    seed; a token once refused stays refused; a new token → token_refresh_after_expiry."""
    async with (
        live_server(make_settings(sqlite_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as client,
    ):
        si = await participant(client, "SenderInst", "institution")
        chaos = {"seed": 9, "families": ["musubi"], "tokens": {"expire_rate": 0.5}}
        runs = []
        for _ in range(2):
            assert (await client.post("/_admin/chaos", json=chaos, headers=ADMIN_HEADERS)).status_code == 200
            statuses = []
            for _ in range(12):
                t = await client.post(
                    "/auth/token", json={"client_id": si.client_id, "client_secret": si.client_secret}
                )
                h = {"Authorization": f"Bearer {t.json()['data']['token']}"}
                r = await client.get("/api/v1/orders", headers=h)
                statuses.append(r.status_code)
                if r.status_code == 401:
                    assert "expired" in r.json()["error"]["message"]
                    assert (await client.get("/api/v1/orders", headers=h)).status_code == 401  # stays expired
            runs.append(statuses)
        assert runs[0] == runs[1] and 401 in runs[0] and 200 in runs[0]
        assert (await recovery(client, "musubi", si.party_id))["token_refresh_after_expiry"]
        del live


# --- broker WebSocket and REST --------------------------------------------------------------------
async def test_broker_ws_cut_gap_slow_and_token_expiry(db_url: str) -> None:
    """Broker WebSocket: cut then authorized again with last_seq → resume_after_cut; resumed from
    before a skipped seq → gap_recovered; 4008 then a new session → reconnect_after_slow_consumer;
    chaos with expire_rate 1 refuses a valid token as expired (REST 401 and WS 4401), sign-in
    again → token_refresh_after_expiry; all for the login (both DBs)."""
    async with (
        live_server(broker_settings(db_url)) as live,
        httpx.AsyncClient(base_url=live.base_url) as client,
    ):
        login, token = await user(client)
        me, stream = str(login), str(login)

        async def note(count: int = 1) -> None:
            await control(client, "broker", stream, "events", {"kind": "n", "count": count})

        ws, _ = await authorize(live.broker_ws_url, token)
        await note()
        assert len(await sync(ws)) == 1
        await control(client, "broker", stream, "disconnect")
        assert await closed_code(ws) == 4000
        assert not (await recovery(client, "broker", me))["resume_after_cut"]
        await control(client, "broker", stream, "skip", {"count": 1})
        await note(2)
        ws, _ = await authorize(live.broker_ws_url, token, last_seq=1)
        assert len(await sync(ws)) == 2
        met = await recovery(client, "broker", me)
        assert met["resume_after_cut"] and met["gap_recovered"]
        starve(live, "broker", stream)
        await note()
        assert await closed_code(ws) == 4008
        assert not (await recovery(client, "broker", me))["reconnect_after_slow_consumer"]
        ws, _ = await authorize(live.broker_ws_url, token)
        assert (await recovery(client, "broker", me))["reconnect_after_slow_consumer"]
        await ws.close()

        chaos = {"seed": 1, "families": ["broker"], "tokens": {"expire_rate": 1}}
        assert (await client.post("/_admin/chaos", json=chaos, headers=ADMIN_HEADERS)).status_code == 200
        ws = await connect(live.broker_ws_url)
        await ws.send(orjson.dumps({"authorization": token}).decode())
        assert (await asyncio.wait_for(ws.recv(), 5)) and await closed_code(ws) == 4401
        r = await client.get("/sign/check", headers={"Authorization": token})
        assert r.status_code == 401 and "expired" in r.text
        assert not (await recovery(client, "broker", me))["token_refresh_after_expiry"]
        r = await client.post("/sign/in", json={"login": login, "password": "secret-pw"})
        assert r.status_code == 200
        assert (await recovery(client, "broker", me))["token_refresh_after_expiry"]


# --- FIX ------------------------------------------------------------------------------------------
async def test_fix_reconnect_and_resend_request_are_resumes(sqlite_url: str) -> None:
    """FIX drop-copy (channel orderEntryFix): the session continuing on a new connection after a
    control-API cut → resume_after_cut; a ResendRequest over skipped reports → gap_recovered."""
    async with fix_server(sqlite_url) as (_live, client, port):
        a = await drop_copy_agent(client)
        me = a.creds.api_key_id
        c, _ = await logged_on(port, a)
        await a.place(BTC, "Bid", 10, 1)
        assert len(await c.reports(1)) == 1
        await control(client, "order-entry", a.account, "disconnect")
        await c.closed()
        c2, _ = await reconnect(port, a, c)
        assert (await recovery(client, "order-entry", me))["resume_after_cut"]
        await control(client, "order-entry", a.account, "skip", {"count": 1})
        for p in (11, 12):
            await a.place(BTC, "Bid", p, 1)
        (r3,) = await c2.reports(1)
        assert r3[9001] == "3"
        assert not (await recovery(client, "order-entry", me))["gap_recovered"]
        c2.send("2", [(7, r3.seq - 1), (16, r3.seq - 1)])
        (resent,) = await c2.reports(1)
        assert resent[9001] == "2"
        assert (await recovery(client, "order-entry", me))["gap_recovered"]
        fix = (await streams_of(client, "order-entry", me))["orderEntryFix"]
        assert fix["subscriptions"] >= 2 and fix["kinds"]
        await c2.close()
