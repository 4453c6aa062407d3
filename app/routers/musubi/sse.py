"""Musubi SSE (CONTRACT §2.5): one sequenced stream per participant, resumable.

A plain ASGI streaming response rather than sse-starlette: every event of one wake-up goes out
in one write (several frames in one chunk), and each frame is the stored JSON bytes with the
`id:`/`event:` lines around them — never re-serialised. Three tasks race (`kit.race`: sender,
heartbeat, disconnect watcher); the first to finish ends the others. The stream ends when the
hub ends the subscription (`StreamEnded`: control-API disconnect, reset, slow consumer) — the
SSE answer to each is the end of the response; the client resumes with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.clock import iso_ms
from app.engine.musubi import validate as v
from app.engine.musubi.model import FAMILY
from app.engine.streams import Event, StreamEnded, Subscription
from app.routers.kit import race
from app.routers.musubi.deps import MARKET_MAKER, PARTIES, SECURITY, caller, service

router = APIRouter(tags=["musubi"])

_KINDS: dict[str, bytes] = {}
_SHUTDOWN_POLL_S = 0.5


def frames(events: list[Event], ref: str | None) -> bytes:
    parts = []
    for e in events:
        if ref is not None and e.ref != ref:
            continue
        kind = _KINDS.get(e.kind)
        if kind is None:
            kind = _KINDS[e.kind] = e.kind.encode()
        parts.append(b"id: %d\nevent: %s\ndata: %s\n\n" % (e.seq, kind, e.data))
    return b"".join(parts)


class EventStream(Response):
    """The ASGI response of one SSE connection."""

    media_type = "text/event-stream"

    def __init__(
        self,
        sub: Subscription,
        ref: str | None,
        heartbeat_ms: int,
        now_ms: Callable[[], int],
        servers: tuple[Any, ...] = (),
    ) -> None:
        self.servers = servers
        self.status_code = 200
        self.background = None
        self.raw_headers = []
        self.sub = sub
        self.ref = ref
        self.heartbeat_s = max(heartbeat_ms, 1) / 1000
        self.now_ms = now_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    (b"x-resume-source", self.sub.source.encode()),
                ],
            }
        )
        try:
            await race(self._sender(send), self._pinger(send), self._watch(receive))
        finally:
            self.sub.close()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    def shutting_down(self) -> bool:
        return any(getattr(srv, "should_exit", False) for srv in self.servers)

    async def _sender(self, send: Send) -> None:
        sub, ref = self.sub, self.ref
        try:
            while True:
                batch = await sub.next_batch()
                chunk = frames(batch, ref)
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except StreamEnded:
            return
        except OSError:
            return

    async def _pinger(self, send: Send) -> None:
        """Heartbeats on the wall clock; also ends the stream when the server is shutting down
        (uvicorn waits for open responses before the app's shutdown could end them)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.heartbeat_s
        while True:
            await asyncio.sleep(min(_SHUTDOWN_POLL_S, max(due - loop.time(), 0)))
            if self.shutting_down():
                return
            if loop.time() < due:
                continue
            due = loop.time() + self.heartbeat_s
            now = self.now_ms()
            body = b"event: heartbeat\ndata: " + orjson.dumps({"timestamp": iso_ms(now)}) + b"\n\n"
            try:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            except OSError:
                return

    @staticmethod
    async def _watch(receive: Receive) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return


async def _open(request: Request, roles: frozenset[str]) -> EventStream:
    p = caller(request, roles, query_token=True)
    svc = service(request)
    ref, from_seq = v.stream_request(
        request.query_params.get("intent_id"), request.headers.get("last-event-id")
    )
    sub = await svc.streams.subscribe(FAMILY, p.party_id, from_seq, catch_up=False)
    servers = tuple(getattr(request.app.state, "servers", ()))
    return EventStream(sub, ref, svc.settings.musubi_sse_heartbeat_ms, svc.clock.now_ms, servers)


def _route(roles: frozenset[str]) -> Callable[[Request], Awaitable[Response]]:
    async def events(request: Request) -> Response:
        return await _open(request, roles)

    return events


for _path, _name, _roles, _summary in (
    (
        "/api/v1/orders/events",
        "order_events",
        PARTIES,
        "SSE for institutions and custodians: order_updated, quote_received, heartbeat",
    ),
    (
        "/api/v1/events",
        "mm_events",
        MARKET_MAKER,
        "SSE for market makers: quote_request_created, quote_updated, settlement_updated, heartbeat",
    ),
):
    router.add_api_route(
        _path, _route(_roles), methods=["GET"], name=_name, summary=_summary, openapi_extra=SECURITY
    )
