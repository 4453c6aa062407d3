"""The private execution WebSocket (CONTRACT §4.5): `/api/v1/ws/private/{account}` and its
legacy alias `/api/v1/ws/bsl/{account}`.

States: CONNECTED → (token in the query, or the first frame `{"op":"authenticate"}`, answered
`{"op":"authenticated"}`) → AUTHENTICATED → replay from `fromSeq` (ring, then SQL) → LIVE.
The session is a race of tasks — sender (stream → socket), receiver (pongs, client pings,
disconnect), pinger (wall-clock heartbeat), watcher (the engine ends the session: key revoked,
server stopping) — the first to finish decides the close code (`close_for` maps the engine's
outcomes):

    4401  bad / expired / reused token, another account's path, key revoked
    4000  no pong within REFSERVER_OE_WS_PONG_TIMEOUT_MS
    4008  slow consumer, after {"op":"resync_required","fromSeq":N}
    4400  malformed fromSeq
    1012  the stream was closed by the server (control-API disconnect, reset, shutdown)
    1013  the token could not be checked (database unavailable): try again later
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app.clock import wall_ms
from app.engine.order_entry import validate
from app.engine.order_entry.agents import ServiceStopping, SessionRevoked
from app.engine.order_entry.service import FAMILY, OrderEntryService
from app.engine.order_entry.ws_tokens import TokenRefused
from app.engine.streams import SlowConsumer, StreamClosed, StreamEnded
from app.routers.kit import race

router = APIRouter(tags=["order-entry"])

AUTH_TIMEOUT_S = 10.0
Close = tuple[int, str]


def close_for(outcome: Exception) -> Close:
    """The close code of an engine outcome that ends a session."""
    if isinstance(outcome, SessionRevoked):
        return 4401, "api key revoked"
    if isinstance(outcome, ServiceStopping):
        return 1012, "server stopping"
    if isinstance(outcome, SlowConsumer):
        return 4008, "slow consumer"
    if isinstance(outcome, StreamClosed):
        return 1012, outcome.reason
    if isinstance(outcome, StreamEnded):
        return 1011, outcome.reason
    return 1011, "internal error"


def _text(obj: Any) -> str:
    return orjson.dumps(obj).decode()


@router.websocket("/api/v1/ws/private/{account}")
async def private_ws(websocket: WebSocket, account: str) -> None:
    await serve_private(websocket, account)


@router.websocket("/api/v1/ws/bsl/{account}")
async def bsl_ws(websocket: WebSocket, account: str) -> None:
    await serve_private(websocket, account)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        if ws.application_state != WebSocketState.DISCONNECTED:
            await asyncio.wait_for(ws.close(code, reason[:120]), 5)


async def serve_private(websocket: WebSocket, account: str) -> None:
    ctx = websocket.app.state.ctx
    svc: OrderEntryService | None = ctx.services.get(FAMILY)
    await websocket.accept()
    if svc is None:
        await _close(websocket, 1013, "order entry is not running")
        return
    params = websocket.query_params
    token: Any = params.get("token")
    from_raw: Any = params.get("fromSeq")
    by_frame = token is None
    if by_frame:
        try:
            first = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
            msg = orjson.loads(first)
        except (TimeoutError, WebSocketDisconnect, orjson.JSONDecodeError, KeyError, RuntimeError):
            await _close(websocket, 4401, 'expected {"op":"authenticate","token":...} first')
            return
        if not isinstance(msg, dict) or msg.get("op") != "authenticate":
            await _close(websocket, 4401, 'expected {"op":"authenticate","token":...} first')
            return
        token = msg.get("token")
        if "fromSeq" in msg:
            from_raw = msg.get("fromSeq")
    from_seq = validate.stream_position(from_raw)
    try:
        tok = await svc.tokens.consume(token, account)
    except TokenRefused as refused:
        await _close(websocket, 4401, refused.message)
        return
    except Exception:  # the database is unavailable: try again later
        await _close(websocket, 1013, "try again later")
        return
    if isinstance(from_seq, str):
        await _close(websocket, 4400, from_seq)
        return
    # subscribe before answering "authenticated": every event committed after that frame is delivered
    sub = await ctx.streams.subscribe(
        FAMILY, tok.account, None if from_seq is None else max(from_seq, 1), catch_up=False
    )
    if by_frame:  # a query-token session starts with its events, nothing else
        session_id = "sess_" + secrets.token_hex(8)
        try:
            await websocket.send_text(
                _text({"op": "authenticated", "account": tok.account, "sessionId": session_id})
            )
        except Exception:
            sub.close()
            return
    ended: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    def end(outcome: Exception) -> None:
        if not ended.done():
            ended.set_result(outcome)

    forget = svc.agents.watch(tok.api_key_id, end)
    pong = asyncio.Event()
    settings = ctx.settings
    outcome: list[Close] = []  # the first task to end says how the connection closes

    async def sender() -> None:
        try:
            while True:
                batch = await sub.next_batch()
                for ev in batch:
                    await websocket.send_text(ev.data.decode())
        except SlowConsumer as exc:
            with contextlib.suppress(Exception):
                await websocket.send_text(_text({"op": "resync_required", "fromSeq": exc.next_seq}))
            outcome.append(close_for(exc))
        except (StreamClosed, StreamEnded) as exc:
            outcome.append(close_for(exc))

    async def receiver() -> None:
        while True:
            msg = await websocket.receive()
            if msg["type"] == "websocket.disconnect":
                return
            raw = msg.get("text") or msg.get("bytes") or b""
            try:
                frame = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(frame, dict):
                continue
            op = frame.get("op")
            if op == "pong":
                pong.set()
            elif op == "ping":
                await websocket.send_text(_text({"op": "pong", "ts": frame.get("ts", wall_ms())}))

    async def pinger() -> None:
        interval = settings.oe_ws_ping_interval_ms / 1000
        timeout = settings.oe_ws_pong_timeout_ms / 1000
        while True:
            await asyncio.sleep(interval)
            pong.clear()
            try:
                # the ping's own send counts too: a client that stopped reading is as dead as a silent one
                async with asyncio.timeout(timeout):
                    await websocket.send_text(_text({"op": "ping", "ts": wall_ms()}))
                    await pong.wait()
            except TimeoutError:
                outcome.append((4000, "no pong within the heartbeat timeout"))
                return

    async def watcher() -> None:
        outcome.append(close_for(await ended))

    try:
        await race(sender(), receiver(), pinger(), watcher())
    finally:
        sub.close()
        forget()
    if outcome:
        await _close(websocket, *outcome[0])
    else:
        await _close(websocket, 1000, "bye")
