"""The outermost layer of the app: request ids, the journal, control-API faults, the body
limit and the last word on unexpected errors.

It wraps the whole middleware stack (see `RefApp.build_middleware_stack`) so it sees every
response, including ones rendered for unexpected errors, and can drop a connection outright.
Pure ASGI: it adds one closure per request and, only for a body without Content-Length, one
counter per body chunk.

- Body limit (`REFSERVER_MAX_BODY_BYTES`): a Content-Length over it is answered 413 at once,
  nothing read (and the connection closed, so the unread body is never taken in); a chunked
  body is counted as it is received and refused with 413 when it passes the limit.
- Control requests (`/_admin`) are JSON whatever their Content-Type says.
- Unexpected errors: Starlette answers 500 through the family's shape, then re-raises so the
  server can log it; uvicorn would then reset the keep-alive connection. The edge swallows an
  exception whose answer went out whole (it is logged once, by `app.errors`), answers 500
  itself when nothing went out, and re-raises only when an answer was cut short.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.clock import wall_ms
from app.errors import BodyTooLarge, render, too_large_message
from app.families import CORE_ERRORS, ErrorShape, Registry
from app.faults import FaultRule
from app.integrator.coverage import error_code
from app.journal import mask_body

if TYPE_CHECKING:
    from app.context import AppContext


# Request ids need uniqueness, not secrecy. os.urandom releases the GIL on every call, and the
# event loop then queues behind the streams writer thread to get it back (measured ~50 µs a
# request under write load); a PRNG seeded once does not.
_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


log = logging.getLogger("refserver.edge")

DEFAULT_MAX_BODY = 1_048_576


class DroppedByFault(Exception):
    """Raised where the connection cannot be cut (in-process transports)."""


class Edge:
    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app = app
        self.owner = owner  # the FastAPI app: its state holds the context once started
        settings = getattr(owner.state, "settings", None)
        self.max_body: int = getattr(settings, "max_body_bytes", DEFAULT_MAX_BODY)

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

        chaos = None
        if ctx is not None and not path.startswith("/_admin"):
            if ctx.faults.rules:
                rule = ctx.faults.take(method, path, family)
                if rule is not None:
                    if rule.drop:
                        await _drop(send)
                        self._journal(ctx, family, method, path, 0, started, state)
                        return
                    if rule.delay_ms is not None:
                        await asyncio.sleep(rule.delay_ms / 1000)
                    else:
                        resp = _fault_answer(shape, rule, rid, ctx.clock.now_ms())
                        await resp(scope, receive, send)
                        _injected(ctx, family, method, path)
                        self._journal(ctx, family, method, path, resp.status_code, started, state)
                        return
            # seeded chaos (§7.2): drawn per request in arrival order, next to the fault rules
            if ctx.chaos.http_active:
                chaos = ctx.chaos.http(family)
                if chaos is not None:
                    state["chaos"] = chaos.to_json()
                    if chaos.latency_ms:
                        await asyncio.sleep(chaos.latency_ms / 1000)
                    if chaos.status is not None:
                        resp = render(shape, chaos.status, "CHAOS", "chaos", None, rid, ctx.clock.now_ms())
                        if shape.request_id_header:
                            resp.headers["x-request-id"] = rid
                        await resp(scope, receive, send)
                        _injected(ctx, family, method, path)
                        self._journal(ctx, family, method, path, resp.status_code, started, state)
                        return

        limit = self.max_body
        length = _content_length(scope)
        if length is not None and length > limit:
            resp = render(shape, 413, None, too_large_message(limit), None, rid, _now(ctx))
            resp.headers["connection"] = "close"  # the body stays unread: end the exchange
            if shape.request_id_header:
                resp.headers["x-request-id"] = rid
            await resp(scope, receive, send)
            if ctx is not None:
                self._journal(ctx, family, method, path, 413, started, state)
            return

        tag_request_id = shape.request_id_header
        rid_bytes = rid.encode()
        complete = False
        keep = ctx.journal.bodies if ctx is not None else 0
        answer: list[bytes] = []  # an error answer's body (for its code), or any body the journal keeps

        async def send_wrapper(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                if tag_request_id:
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", rid_bytes))
                    message["headers"] = headers
            elif message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    complete = True
                if (status >= 400 or keep) and len(answer) < 64:
                    answer.append(message.get("body", b""))
            await send(message)

        inner_receive = receive
        if length is None:
            received = 0

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge(limit)
                return message

            inner_receive = counting_receive

        asked: list[bytes] = []
        if keep:
            inner_receive = _tee(inner_receive, asked, keep)
        try:
            await self.app(scope, inner_receive, send_wrapper)
        except Exception as exc:
            if complete:
                # answered in full (Starlette's 500, or a failure after the answer): keep the
                # connection; log what no handler logged
                if state.get("error_answered") is not exc:
                    log.error("error after the answer on %s %s", method, path, exc_info=exc)
            elif status == 0:
                if isinstance(exc, BodyTooLarge):
                    code, message = 413, too_large_message(limit)
                else:
                    log.error("unexpected error on %s %s", method, path, exc_info=exc)
                    code, message = 500, "internal error"
                resp = render(shape, code, None, message, None, rid, _now(ctx))
                await resp(scope, receive, send_wrapper)
            else:
                raise  # an answer cut short: only closing the connection tells the client
        finally:
            if ctx is not None:
                if keep:
                    state["request_body"] = mask_body(b"".join(asked), keep)
                    state["response_body"] = mask_body(b"".join(answer), keep)
                self._journal(ctx, family, method, path, status, started, state)
                if family is not None:
                    _cover(ctx, scope, family, method, path, status, answer)
                elif status == 200 and method == "POST" and path.startswith("/_admin/streams/"):
                    _cover_control(ctx, path)

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
        extra: dict[str, Any] | None = None
        if "chaos" in state:
            extra = {"chaos": True, "action": state["chaos"]}
        if "request_body" in state:
            extra = extra or {}
            extra["request_body"] = state["request_body"]
            extra["response_body"] = state["response_body"]
        ctx.journal.record(
            (
                wall_ms(),
                family or ("admin" if path.startswith("/_admin") else "core"),
                method,
                path,
                status,
                time.perf_counter() - started,
                state.get("caller"),
                state.get("request_id"),
                extra,
            )
        )


# --- integrator tools (§7): coverage recording, chaos, fault bodies, journal bodies ------------
def _cover(
    ctx: AppContext, scope: Scope, family: str, method: str, path: str, status: int, answer: list[bytes]
) -> None:
    """One coverage record per answered request of a family: route template, status, code."""
    route = scope.get("route")
    if route is None:
        return  # no route matched: not an operation of the catalogue
    code = None
    expired = False
    if status >= 400 and answer:
        code, message = error_code(b"".join(answer))
        expired = status == 401 and "expired" in message
    idem = None
    if method == "POST":
        for k, v in scope["headers"]:
            if k == b"idempotency-key":
                idem = v.decode("latin-1")
                break
    caller = scope["state"].get("caller")
    if caller is not None and caller.startswith(family + ":"):
        caller = caller[len(family) + 1 :]
    ctx.coverage.http(family, caller, method, route.path, status, code, path, idem, expired)


def _cover_control(ctx: AppContext, path: str) -> None:
    """A control-API cut or skip: the stream's next resume / gap-fill meets a recovery path."""
    parts = path.split("/")  # "", "_admin", "streams", family, stream, action
    if len(parts) != 6:
        return
    if parts[5] == "disconnect":
        ctx.coverage.cut(parts[3], parts[4])
    elif parts[5] == "skip":
        ctx.coverage.gap(parts[3], parts[4])


def _injected(ctx: AppContext, family: str | None, method: str, path: str) -> None:
    if family is not None:
        ctx.coverage.injected(family, method, path)


def _fault_answer(shape: ErrorShape, rule: FaultRule, rid: str, now_ms: int) -> Response:
    if rule.body is not None:
        resp = Response(
            orjson.dumps(rule.body), status_code=rule.status or 500, media_type="application/json"
        )
    else:
        resp = render(shape, rule.status or 500, rule.code, "injected fault", None, rid, now_ms)
    if shape.request_id_header:
        resp.headers["x-request-id"] = rid
    return resp


def _tee(receive: Receive, into: list[bytes], limit: int) -> Receive:
    """`receive` that also keeps the first `limit` bytes of the request body."""
    kept = 0

    async def wrapped() -> Message:
        nonlocal kept
        message = await receive()
        if message["type"] == "http.request" and kept < limit:
            chunk = message.get("body", b"")[: limit - kept + 1]
            into.append(chunk)
            kept += len(chunk)
        return message

    return wrapped


async def _drop(send: Send) -> None:
    """Cut the TCP connection without an answer (uvicorn), or raise where there is none."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise DroppedByFault("connection dropped by a fault rule")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.abort()
    await asyncio.sleep(0)


def _content_length(scope: Scope) -> int | None:
    """The request's Content-Length (None when absent: chunked or no body); the server has
    already refused a malformed one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _now(ctx: AppContext | None) -> int | None:
    return ctx.clock.now_ms() if ctx is not None else None
