"""The private execution WebSocket (CONTRACT §4.5): `/api/v1/ws/private/{account}` and its
legacy alias `/api/v1/ws/bsl/{account}`.

States: CONNECTED → (token in the query, or the first frame `{"op":"authenticate"}`, answered
`{"op":"authenticated"}`) → AUTHENTICATED → replay from `fromSeq` (ring, then SQL) → LIVE.
The session is a race of tasks — sender (stream → socket), receiver (pongs, client pings,
disconnect), pinger (wall-clock heartbeat), closer (key revoked) — the first to finish decides
the close code:

    4401  bad / expired / reused token, another account's path, key revoked
    4000  no pong within REFSERVER_OE_WS_PONG_TIMEOUT_MS
    4008  slow consumer, after {"op":"resync_required","fromSeq":N}
    4400  malformed fromSeq
    1012  the stream was closed by the server (control-API disconnect, reset, shutdown)
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
from app.engine.order_entry.service import FAMILY, OrderEntryService
from app.engine.streams import SlowConsumer, StreamClosed, StreamEnded

router = APIRouter(tags=["order-entry"])

AUTH_TIMEOUT_S = 10.0
Close = tuple[int, str]


@router.websocket("/api/v1/ws/private/{account}")
async def private_ws(websocket: WebSocket, account: str) -> None:
    await serve_private(websocket, account)


@router.websocket("/api/v1/ws/bsl/{account}")
async def bsl_ws(websocket: WebSocket, account: str) -> None:
    await serve_private(websocket, account)


def _parse_from_seq(raw: Any) -> int | str | None:
    """None (live only), an int >= 0, or an error string."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return "fromSeq must be a non-negative integer"
    if isinstance(raw, int):
        return raw if raw >= 0 else "fromSeq must be a non-negative integer"
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return "fromSeq must be a non-negative integer"


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
    from_seq = _parse_from_seq(from_raw)
    tok, why = svc.consume_ws_token(token, account)
    if tok is None:
        await _close(websocket, 4401, why)
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
                orjson.dumps(
                    {"op": "authenticated", "account": tok.account, "sessionId": session_id}
                ).decode()
            )
        except Exception:
            sub.close()
            return
    loop = asyncio.get_running_loop()
    closer: asyncio.Future[Close] = loop.create_future()

    def close_now(code: int, reason: str) -> None:
        if not closer.done():
            closer.set_result((code, reason))

    sessions = svc.ws_sessions.setdefault(tok.api_key_id, set())
    sessions.add(close_now)
    pong = asyncio.Event()
    settings = ctx.settings

    async def sender() -> Close | None:
        try:
            while True:
                batch = await sub.next_batch()
                for ev in batch:
                    await websocket.send_text(ev.data.decode())
        except SlowConsumer as exc:
            with contextlib.suppress(Exception):
                await websocket.send_text(
                    orjson.dumps({"op": "resync_required", "fromSeq": exc.next_seq}).decode()
                )
            return 4008, "slow consumer"
        except StreamClosed as exc:
            return 1012, exc.reason
        except StreamEnded as exc:
            return 1011, exc.reason

    async def receiver() -> Close | None:
        while True:
            msg = await websocket.receive()
            if msg["type"] == "websocket.disconnect":
                return None
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
                await websocket.send_text(
                    orjson.dumps({"op": "pong", "ts": frame.get("ts", wall_ms())}).decode()
                )

    async def pinger() -> Close | None:
        interval = settings.oe_ws_ping_interval_ms / 1000
        timeout = settings.oe_ws_pong_timeout_ms / 1000
        while True:
            await asyncio.sleep(interval)
            pong.clear()
            try:
                # the ping's own send counts too: a client that stopped reading is as dead as a silent one
                async with asyncio.timeout(timeout):
                    await websocket.send_text(orjson.dumps({"op": "ping", "ts": wall_ms()}).decode())
                    await pong.wait()
            except TimeoutError:
                return 4000, "no pong within the heartbeat timeout"

    async def revoked() -> Close | None:
        return await closer

    tasks = [asyncio.create_task(c()) for c in (sender, receiver, pinger, revoked)]
    result: Close | None = None
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            exc = t.exception()
            if exc is None and result is None:
                result = t.result()
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        sub.close()
        sessions.discard(close_now)
        if not sessions:
            svc.ws_sessions.pop(tok.api_key_id, None)
    if result is not None:
        await _close(websocket, *result)
    else:
        await _close(websocket, 1000, "bye")
