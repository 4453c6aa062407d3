"""WebSocket tokens (CONTRACT §4.2, §6 "Restarts", seed 002): kept in the database, so a token
stays valid across a restart and in another process on the same database until it expires;
single use across processes; the key's revocation is read from the database."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_HEADERS, live_server, make_settings, running_app
from tests.order_entry.helpers import RICH, new_agent

pytestmark = pytest.mark.anyio
BTC = 1


async def first_frame_or_close(url: str) -> tuple[dict[str, Any] | None, int | None, str]:
    """Authenticate by the first frame; (the answer, None, "") or (None, close code, reason)."""
    async with connect(url) as ws:
        try:
            async with asyncio.timeout(5):
                return orjson.loads(await ws.recv()), None, ""
        except ConnectionClosed as exc:
            return None, exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else ""


async def test_ws_token_survives_a_restart(db_url: str) -> None:
    """A token issued before a restart opens the stream after it (another app on the same
    database, which never saw the token in memory), once: a second use is refused there too."""
    settings = make_settings(db_url)
    async with running_app(settings) as first:
        a = await new_agent(first.client, fund=RICH)
        await a.place(BTC, "Bid", 10, 1)
        await first.ctx.services["order-entry"].drain()
        token = await a.ws_token()
    async with live_server(settings) as live:
        url = f"{live.ws_base}/api/v1/ws/private/{a.account}?token={token}&fromSeq=1"
        frame, code, _ = await first_frame_or_close(url)
        assert code is None and frame is not None and frame["seq"] == 1
        frame, code, reason = await first_frame_or_close(url)
        assert (code, reason) == (4401, "token already used")


async def test_ws_token_revocation_is_read_from_the_database(db_url: str) -> None:
    """Two apps on one database: a token issued by the first is refused by the second once the
    first revoked the key, though the second still holds the key as valid in memory."""
    settings = make_settings(db_url)
    async with running_app(settings) as first:
        a = await new_agent(first.client, fund=RICH)
        async with live_server(settings) as live:
            token = await a.ws_token()
            resp = await first.client.delete(
                f"/_admin/order-entry/agents/{a.creds.api_key_id}", headers=ADMIN_HEADERS
            )
            assert resp.status_code == 200
            agent = live.ctx.services["order-entry"].agent_for_key(a.creds.api_key_id)
            assert agent is not None and not agent.revoked  # the second app's memory knows nothing
            url = f"{live.ws_base}/api/v1/ws/private/{a.account}?token={token}"
            _, code, reason = await first_frame_or_close(url)
            assert (code, reason) == (4401, "api key revoked")


async def test_ws_token_issued_by_one_app_is_accepted_by_another(db_url: str) -> None:
    """Seed 002: the token is accepted where the plane that issued it shares no memory with the
    one that serves the stream."""
    settings = make_settings(db_url)
    async with running_app(settings) as first:
        a = await new_agent(first.client, fund=RICH)
        async with live_server(settings) as live:
            token = await a.ws_token()
            async with connect(f"{live.ws_base}/api/v1/ws/private/{a.account}") as ws:
                await ws.send(orjson.dumps({"op": "authenticate", "token": token}).decode())
                async with asyncio.timeout(5):
                    hello = orjson.loads(await ws.recv())
                assert hello["op"] == "authenticated" and hello["account"] == a.account
