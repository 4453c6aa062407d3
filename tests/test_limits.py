"""The edge's limits (CONTRACT §6, "Limits, every family"): request bodies and WebSocket frames
past `REFSERVER_MAX_BODY_BYTES` are refused in the family's shape before they are read whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from app.config import Settings
from tests.conftest import ADMIN_HEADERS, live_server, make_settings, running_app

pytestmark = pytest.mark.anyio

LIMIT = 4_096

# one body-taking route per family, and its error shape: (path, code of the body)
ROUTES = {
    "musubi": "/api/v1/orders",
    "broker": "/sign/in",
    "order-entry": "/api/v1/order-entry/orders",
    "control": "/_admin/faults",
}


def _code(family: str, body: dict[str, object]) -> object:
    if family == "broker":  # {"error": "<CODE>", "message"}
        return body["error"]
    error = body["error"]
    assert isinstance(error, dict)
    return error["code"]


def test_default_body_limit_is_one_mebibyte() -> None:
    """The limit defaults to 1 MiB (a server with no setting still refuses 10 MB bodies)."""
    assert Settings(admin_token="x").max_body_bytes == 1_048_576


async def test_oversized_body_is_refused_with_413_in_every_family_shape(sqlite_url: str) -> None:
    """A Content-Length over the limit → 413 PAYLOAD_TOO_LARGE in that family's own error shape
    (Musubi envelope with meta and X-Request-ID, broker flat, Order Entry and control nested)."""
    big = b'{"x":"' + b"a" * LIMIT + b'"}'
    async with running_app(make_settings(sqlite_url, max_body_bytes=LIMIT)) as r:
        for family, path in ROUTES.items():
            resp = await r.client.post(path, content=big, headers=ADMIN_HEADERS)
            assert resp.status_code == 413, (family, resp.text)
            body = resp.json()
            assert _code(family, body) == "PAYLOAD_TOO_LARGE", (family, body)
            assert resp.headers["connection"] == "close"
            if family == "musubi":
                assert "meta" in body and resp.headers["x-request-id"] == body["meta"]["request_id"]
        entries = (await r.client.get("/_admin/journal", headers=ADMIN_HEADERS)).json()["entries"]
        assert [e["status"] for e in entries[:4]] == [413, 413, 413, 413]


async def test_body_at_the_limit_reaches_the_route(sqlite_url: str) -> None:
    """The limit is inclusive: a body of exactly the limit is the route's to judge (not 413)."""
    body = b'{"match":{"path":"/none"},"action":{"status":503},"pad":"' + b"a" * LIMIT + b'"}'
    body = body[: LIMIT - 2] + b'"}'
    assert len(body) == LIMIT
    headers = {**ADMIN_HEADERS, "content-type": "application/json"}
    async with running_app(make_settings(sqlite_url, max_body_bytes=LIMIT)) as r:
        resp = await r.client.post("/_admin/faults", content=body, headers=headers)
        assert resp.status_code == 201, resp.text


async def _chunks(total: int, size: int = 1_024) -> AsyncIterator[bytes]:
    yield b'{"pad":"'
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize("family", ["musubi", "broker", "control"])
async def test_chunked_body_over_limit_is_refused_while_counted(sqlite_url: str, family: str) -> None:
    """A body without Content-Length (chunked) is counted as it arrives: past the limit → 413 in
    the family's shape on a real uvicorn, and the server stays up for the next request."""
    path = {"musubi": "/auth/token", "broker": "/sign/in", "control": "/_admin/faults"}[family]
    async with live_server(make_settings(sqlite_url, max_body_bytes=LIMIT)) as live, httpx.AsyncClient() as c:
        resp = await c.post(live.base_url + path, content=_chunks(LIMIT * 4), headers=ADMIN_HEADERS)
        assert resp.status_code == 413, resp.text
        assert _code(family, resp.json()) == "PAYLOAD_TOO_LARGE"
        assert (await c.get(live.base_url + "/health")).status_code == 200


async def test_websocket_frame_over_limit_closes_with_1009(sqlite_url: str) -> None:
    """A frame over the limit closes the connection with 1009 on both listeners: the Order
    Entry WebSocket (main port) and the broker WebSocket port; a frame under it does not."""
    async with live_server(make_settings(sqlite_url, max_body_bytes=LIMIT)) as live:
        for url in (live.ws_base + "/api/v1/ws/private/ACC1", live.broker_ws_url):
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send("x" * (LIMIT + 1))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, url
