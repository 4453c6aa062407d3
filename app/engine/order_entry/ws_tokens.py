"""Single-use tokens for the private WebSocket (`POST /api/v1/ws/token`, TTL on the domain
clock). They live in the database (`oe_ws_tokens`), so a token stays valid across a restart,
and in any process on the same database, until it expires or is used; the key's revocation is
read from the database when the token is used."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.engine import Connection

from app.clock import DomainClock
from app.engine.errors import DomainError
from app.engine.order_entry import store
from app.engine.order_entry.model import Agent, WsToken
from app.engine.streams import Emit
from app.engine.streams.unit import UnitOfWork


class TokenRefused(DomainError):
    """The token does not open this stream; the message says why (4401 at the edge)."""

    status = 401


class WsTokens:
    def __init__(self, clock: DomainClock, uow: UnitOfWork, ttl_ms: int) -> None:
        self.clock = clock
        self.uow = uow
        self.ttl_ms = ttl_ms

    async def issue(self, agent: Agent) -> WsToken:
        now = self.clock.now_ms()
        tok = WsToken("wst_" + secrets.token_urlsafe(24), agent.account, agent.api_key_id, now + self.ttl_ms)

        def write(conn: Connection, emit: Emit) -> None:
            store.insert_ws_token(conn, tok, now)

        await self.uow.commit(write)
        return tok

    async def consume(self, token: Any, account: str) -> WsToken:
        """The token when it opens `account`'s stream, else `TokenRefused(why)`. Single use: a
        token presented for another account is spent too."""
        if not isinstance(token, str) or not token or len(token) > 64:
            raise TokenRefused("missing token")
        now = self.clock.now_ms()

        def write(conn: Connection, emit: Emit) -> tuple[WsToken | None, bool, bool]:
            return store.take_ws_token(conn, token)

        tok, used, revoked = await self.uow.commit(write)
        if tok is None:
            raise TokenRefused("unknown token")
        if used:
            raise TokenRefused("token already used")
        if tok.expires_ms <= now:
            raise TokenRefused("token expired")
        if revoked:
            raise TokenRefused("api key revoked")
        if account.lower() != tok.account:
            raise TokenRefused("token is for another account")
        return tok
