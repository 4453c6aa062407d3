"""The broker WebSocket (CONTRACT §3.4): `/ws` here; the broker port maps every WebSocket to it.

A session is a race of three tasks, the first to finish ending the others:

    reader   client frames: ping, subscribe/unsubscribe, malformed → INVALID_DATA
    account  the login's sequenced stream (replay from last_seq, then live) → outbox
    sender   the only writer: drains the outbox (account frames, ticks, pongs) to the socket

Ticks are ephemeral: the quote pipeline builds each `t` frame once and appends it to the
outbox of every subscribed session (no await, no per-session serialisation). The outbox is
bounded; a session that falls behind by more than that is closed with 4008 "slow consumer".

Account events go through the same outbox, in order, each batch as one entry, and their bound
is on what the reader leaves unread (CONTRACT §1.5): a commit of any size goes out in full; the
next one is taken from the subscription only once the socket has sent all but fewer than the
bound, so a reader that stops reading lets the subscription overflow (4008) while one that
keeps up never does.
Revocation (password change, sign-out, disabling) closes the session with 4401; a control-API
disconnect or reset with 4000. Client coverage (§7.1) is told of the subscription (a resume
with `last_seq`), the kinds delivered and a slow-consumer close; seeded chaos (§7.2) may refuse
the token as expired.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from app.engine.broker.model import ServerReset, SessionEnded, SessionRevoked
from app.engine.broker.service import BrokerService
from app.engine.broker.store import FAMILY
from app.engine.broker.symbols import BY_NAME
from app.engine.errors import DomainError
from app.engine.streams import SlowConsumer, StreamEnded, Subscription
from app.integrator.chaos import Chaos
from app.integrator.coverage import Coverage
from app.routers.broker.deps import token_of
from app.routers.kit import race

router = APIRouter()

AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_SLOW = 4008
CLOSE_SERVER = 4000

NOT_AUTHORIZED = '{"event":"error","error":"NOT_AUTHORIZED"}'
INVALID_TOKEN = '{"event":"authorization","success":false,"error":"INVALID_TOKEN"}'
AUTH_INVALID_DATA = '{"event":"authorization","success":false,"error":"INVALID_DATA"}'


def close_code(outcome: SessionEnded) -> int:
    """The WebSocket close code of an outcome the engine names."""
    if isinstance(outcome, SessionRevoked):
        return CLOSE_UNAUTHORIZED
    assert isinstance(outcome, ServerReset)
    return CLOSE_SERVER


def _error(message: str) -> str:
    return orjson.dumps({"event": "error", "error": "INVALID_DATA", "message": message}).decode()


CHANNEL = "broker"  # the AsyncAPI channel id


class Session:
    def __init__(
        self, ws: WebSocket, svc: BrokerService, outbox_max: int, coverage: Coverage, chaos: Chaos
    ) -> None:
        self.ws = ws
        self.svc = svc
        self.coverage = coverage
        self.chaos = chaos
        self.login = 0
        self.jti = ""
        self.outbox: deque[str | list[str]] = deque()  # frames; a list: one batch of account frames
        self.outbox_max = outbox_max
        self.unsent = 0  # account frames in the outbox
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()  # the unsent account frames went below the bound
        self.closing: tuple[int, str] | None = None
        self.symbols: set[str] = set()
        self.sub: Subscription | None = None

    # --- engine side (Listener) --------------------------------------------------------------
    def push_tick(self, frame: str) -> None:
        if self.closing is not None:
            return
        if len(self.outbox) >= self.outbox_max:
            self.kick(CLOSE_SLOW, "slow consumer")
            return
        self.outbox.append(frame)
        self.wake.set()

    def end(self, outcome: SessionEnded) -> None:
        self.kick(close_code(outcome), outcome.reason)

    def kick(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            if code == CLOSE_SLOW:
                self.coverage.slow(FAMILY, str(self.login))
            self.outbox.clear()
            self.unsent = 0
            self.wake.set()
            self.drained.set()

    # --- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_S):
                authed = await self._authorize()
        except TimeoutError:
            await self._close(CLOSE_UNAUTHORIZED, "authorization timeout")
            return
        except WebSocketDisconnect:
            return
        if not authed:
            return
        try:
            await race(self._reader(), self._account(), self._sender())
        finally:
            self.svc.live.detach(self)
            if self.sub is not None:
                self.sub.close()
            if self.closing is not None:
                await self._close(*self.closing)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    async def _send(self, text: str) -> None:
        await self.ws.send({"type": "websocket.send", "text": text})

    async def _authorize(self) -> bool:
        ws = self.ws
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return False
            text = msg.get("text")
            if text is not None and text.strip() == "ping":
                await self._send("pong")
                continue
            frame = _loads(text)
            if not isinstance(frame, dict) or "authorization" not in frame:
                await self._send(NOT_AUTHORIZED)
                await self._close(CLOSE_UNAUTHORIZED, "not authorized")
                return False
            token = frame["authorization"]
            last_seq = frame.get("last_seq")
            if last_seq is not None and (
                isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0
            ):
                await self._send(AUTH_INVALID_DATA)
                await self._close(CLOSE_UNAUTHORIZED, "last_seq must be a non-negative integer")
                return False
            try:
                if not isinstance(token, str):
                    raise ValueError
                acc, claims = self.svc.sessions.authenticate(token_of(token))
            except (DomainError, ValueError) as exc:
                await self._send(INVALID_TOKEN)
                expired = isinstance(exc, DomainError) and "expired" in exc.message
                await self._close(CLOSE_UNAUTHORIZED, "token expired" if expired else "invalid token")
                return False
            chaos = self.chaos
            if chaos.active and chaos.expire_token(FAMILY, str(acc.login), token_of(token)):
                self.coverage.token_expired(FAMILY)  # seeded chaos (§7.2): refused as expired
                await self._send(INVALID_TOKEN)
                await self._close(CLOSE_UNAUTHORIZED, "token expired")
                return False
            streams = self.svc.streams
            stream = str(acc.login)
            state = await streams.state(FAMILY, stream)
            # from here to `attach` nothing suspends: the head, the subscription and the
            # revocation check belong to one instant
            head = state.head
            from_seq = None if last_seq is None or last_seq >= head else last_seq + 1
            sub = await streams.subscribe(FAMILY, stream, from_seq, catch_up=False, queue_max=self.outbox_max)
            try:
                self.svc.sessions.authenticate(token_of(token))
            except DomainError:
                sub.close()
                await self._send(INVALID_TOKEN)
                await self._close(CLOSE_UNAUTHORIZED, "invalid token")
                return False
            self.sub = sub
            self.login, self.jti = acc.login, claims.jti
            self.coverage.stream(
                FAMILY,
                stream,
                CHANNEL,
                "subscribe" if last_seq is None else "resume",
                stream=stream,
                source=sub.source,
                from_seq=None if last_seq is None else last_seq + 1,
            )
            self.svc.live.attach(self)
            await self._send(f'{{"event":"authorization","success":true,"seq":{sub.target}}}')
            return True

    async def _reader(self) -> None:
        ws = self.ws
        svc = self.svc
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            text = msg.get("text")
            if text is None:
                self.push_tick(_error("frames must be JSON text"))
                continue
            if text.strip() == "ping":
                self.push_tick("pong")
                continue
            frame = _loads(text)
            if not isinstance(frame, dict):
                self.push_tick(_error("malformed frame"))
                continue
            event = frame.get("event")
            if event in ("subscribe", "unsubscribe"):
                data = frame.get("data")
                if isinstance(data, str):
                    data = [data]
                if not isinstance(data, list) or not all(isinstance(s, str) for s in data):
                    self.push_tick(_error("data must be a list of symbols"))
                    continue
                names = [s.strip().upper() for s in data]
                known = [n for n in names if n in BY_NAME]
                unknown = [s for s, n in zip(data, names, strict=True) if n not in BY_NAME]
                if event == "subscribe":
                    svc.live.subscribe_ticks(self, known)
                    self.symbols.update(known)
                else:
                    svc.live.unsubscribe_ticks(self, known)
                    self.symbols.difference_update(known)
                if unknown:
                    self.push_tick(_error(f"unknown symbols: {', '.join(unknown)}"))
            elif "authorization" in frame:
                self.push_tick(_error("already authorized"))
            else:
                self.push_tick(_error("unknown event"))

    async def _account(self) -> None:
        sub = self.sub
        assert sub is not None
        sub.on_lag = self.drained.set  # a subscription that overflows while we wait ends the wait
        caller = str(self.login)
        while self.closing is None:
            try:
                batch = await sub.next_batch()
            except SlowConsumer:
                self.kick(CLOSE_SLOW, "slow consumer")
                return
            except StreamEnded as exc:
                self.kick(CLOSE_SERVER, exc.reason[:120])
                return
            if self.closing is not None:
                return
            self.outbox.append([e.data.decode() for e in batch])
            self.unsent += len(batch)
            self.coverage.delivered(FAMILY, caller, CHANNEL, [e.kind for e in batch])
            self.wake.set()
            while self.unsent >= self.outbox_max and self.closing is None and not sub.lagged:
                self.drained.clear()
                await self.drained.wait()

    async def _sender(self) -> None:
        outbox = self.outbox
        bound = self.outbox_max
        send = self.ws.send
        while True:
            await self.wake.wait()
            self.wake.clear()
            while outbox:
                if self.closing is not None:
                    return
                item = outbox.popleft()
                if isinstance(item, str):
                    await send({"type": "websocket.send", "text": item})
                    continue
                for text in item:
                    if self.closing is not None:
                        return
                    await send({"type": "websocket.send", "text": text})
                    self.unsent -= 1
                    if self.unsent < bound:
                        self.drained.set()
            if self.closing is not None:
                return


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


@router.websocket("/ws")
async def broker_ws(websocket: WebSocket) -> None:
    """Broker account events and quotes (see CONTRACT §3.4 and /asyncapi.json)."""
    ctx = websocket.app.state.ctx
    svc: BrokerService = ctx.services["broker"]
    await websocket.accept()
    session = Session(websocket, svc, ctx.settings.subscriber_queue_max, ctx.coverage, ctx.chaos)
    await session.run()
