"""The outermost layer of the app: request ids, the journal, and control-API faults.

It wraps the whole middleware stack (see `RefApp.build_middleware_stack`) so it sees every
response, including ones rendered for unexpected errors, and can drop a connection outright.
Pure ASGI: it adds one closure per request and nothing per body chunk.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.clock import iso_ms, wall_ms
from app.errors import render
from app.families import CORE_ERRORS, Registry

if TYPE_CHECKING:
    from app.context import AppContext


# Request ids need uniqueness, not secrecy. os.urandom releases the GIL on every call, and the
# event loop then queues behind the streams writer thread to get it back (measured ~50 µs a
# request under write load); a PRNG seeded once does not.
_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


class DroppedByFault(Exception):
    """Raised where the connection cannot be cut (in-process transports)."""


class Edge:
    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app = app
        self.owner = owner  # the FastAPI app: its state holds the context once started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        registry: Registry = self.owner.state.registry
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                fam_ws = registry.for_path(scope["path"])
                st = scope.setdefault("state", {})
                st["family_obj"] = fam_ws
                st["family"] = fam_ws.name if fam_ws is not None else None
            await self.app(scope, receive, send)
            return
        ctx: AppContext | None = getattr(self.owner.state, "ctx", None)
        path: str = scope["path"]
        method: str = scope["method"]
        fam = registry.for_path(path)
        family = fam.name if fam is not None else None
        shape = fam.errors if fam is not None else CORE_ERRORS
        rid = f"req_{_ids.getrandbits(64):016x}"
        state = scope.setdefault("state", {})
        state["family"] = family
        state["family_obj"] = fam
        state["request_id"] = rid
        started = time.perf_counter()
        status = 0

        if ctx is not None and ctx.faults.rules and not path.startswith("/_admin"):
            rule = ctx.faults.take(method, path, family)
            if rule is not None:
                if rule.drop:
                    await _drop(send)
                    self._journal(ctx, family, method, path, 0, started, state)
                    return
                if rule.delay_ms is not None:
                    await asyncio.sleep(rule.delay_ms / 1000)
                else:
                    resp = render(
                        shape, rule.status or 500, rule.code, "injected fault", None, rid, ctx.clock.now_ms()
                    )
                    if shape.request_id_header:
                        resp.headers["x-request-id"] = rid
                    await resp(scope, receive, send)
                    self._journal(ctx, family, method, path, resp.status_code, started, state)
                    return

        tag_request_id = shape.request_id_header
        rid_bytes = rid.encode()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if tag_request_id:
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", rid_bytes))
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if ctx is not None:
                self._journal(ctx, family, method, path, status, started, state)

    @staticmethod
    def _journal(
        ctx: AppContext,
        family: str | None,
        method: str,
        path: str,
        status: int,
        started: float,
        state: dict[str, Any],
    ) -> None:
        ctx.journal.record(
            {
                "time": iso_ms(wall_ms()),
                "family": family or ("admin" if path.startswith("/_admin") else "core"),
                "method": method,
                "path": path,
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "caller": state.get("caller"),
                "request_id": state.get("request_id"),
            }
        )


async def _drop(send: Send) -> None:
    """Cut the TCP connection without an answer (uvicorn), or raise where there is none."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise DroppedByFault("connection dropped by a fault rule")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.abort()
    await asyncio.sleep(0)
