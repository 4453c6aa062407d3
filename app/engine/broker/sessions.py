"""Sign-in and what follows it: argon2id passwords, JWTs on the domain clock, revocation, and
the registry of live sessions (account pushes and quote subscriptions).

A token carries `sub` (the login), `jti`, `iat`/`exp` (domain-clock epoch seconds) and `gen`,
the login's token generation: a password change bumps the generation, so every token issued
before it stops working; a sign-out revokes one `jti`. Expiry is checked against the domain
clock here, so advancing the clock expires tokens. Revocation also ends the token's live
sessions with the `SessionRevoked` outcome.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.engine.auth.jwt import JwtCodec, TokenInvalid
from app.engine.broker import validate
from app.engine.broker.core import Core
from app.engine.broker.model import Account, Listener, SessionEnded, SessionRevoked
from app.engine.broker.store import INS_REVOKED, UPD_USER, Work
from app.engine.broker.symbols import SYMBOLS
from app.engine.errors import Forbidden, NotFound, PaymentRequired, Unauthorized

KNOWN_GROUPS = frozenset({"demo", "real"})


class Passwords:
    """argon2id (memory-hard); cost parameters come from the settings."""

    def __init__(self, *, memory_kib: int, time_cost: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True, slots=True)
class Claims:
    login: int
    jti: str
    iat: int
    exp: int
    gen: int


def _claims(payload: dict[str, Any]) -> Claims:
    if payload.get("typ") != "broker":
        raise TokenInvalid("not a broker token")
    try:
        return Claims(
            int(payload["sub"]),
            str(payload["jti"]),
            int(payload["iat"]),
            int(payload["exp"]),
            int(payload["gen"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid(str(exc) or "invalid token") from None


class Live:
    """The live sessions of every login, and who subscribed to which symbol's ticks."""

    def __init__(self) -> None:
        self.listeners: dict[int, set[Listener]] = {}
        self.tick_subs: dict[str, set[Listener]] = {s.symbol: set() for s in SYMBOLS}

    def attach(self, listener: Listener) -> None:
        self.listeners.setdefault(listener.login, set()).add(listener)

    def detach(self, listener: Listener) -> None:
        subs = self.listeners.get(listener.login)
        if subs is not None:
            subs.discard(listener)
            if not subs:
                del self.listeners[listener.login]
        for s in self.tick_subs.values():
            s.discard(listener)

    def end(self, login: int, jti: str | None, outcome: SessionEnded) -> None:
        """End the login's sessions (only those of token `jti` when given)."""
        for listener in list(self.listeners.get(login, ())):
            if jti is None or listener.jti == jti:
                listener.end(outcome)

    def end_all(self, outcome: SessionEnded) -> None:
        for subs in list(self.listeners.values()):
            for listener in list(subs):
                listener.end(outcome)
        self.listeners.clear()
        for s in self.tick_subs.values():
            s.clear()

    def subscribe_ticks(self, listener: Listener, symbols: Iterable[str]) -> None:
        for s in symbols:
            self.tick_subs[s].add(listener)

    def unsubscribe_ticks(self, listener: Listener, symbols: Iterable[str]) -> None:
        for s in symbols:
            self.tick_subs[s].discard(listener)


class Sessions:
    def __init__(self, core: Core, live: Live) -> None:
        self.core = core
        self.live = live
        s = core.settings
        self.passwords = Passwords(memory_kib=s.broker_argon2_memory_kib, time_cost=s.broker_argon2_time_cost)
        self.token_ttl_s = s.broker_token_ttl_s
        self.codec: JwtCodec | None = None

    async def start(self) -> None:
        self.codec = JwtCodec(await self.core.rt.secrets.get("broker-jwt"))

    def find_login(self, login: Any) -> Account | None:
        book = self.core.book
        if isinstance(login, str) and "@" in login:
            n = book.by_email.get(login.strip().lower())
            return None if n is None else book.accounts.get(n)
        try:
            n = int(login)
        except (TypeError, ValueError):
            return None
        return book.accounts.get(n)

    def mint(self, acc: Account) -> str:
        assert self.codec is not None
        now = self.core.now_s()
        payload = {
            "sub": str(acc.login),
            "jti": secrets.token_hex(12),
            "iat": now,
            "exp": now + self.token_ttl_s,
            "gen": acc.token_gen,
            "typ": "broker",
        }
        return self.codec.encode(payload)

    async def sign_in(self, login: Any, password: str) -> tuple[Account, str]:
        acc = self.find_login(login)
        if acc is None:
            raise Forbidden("login or password is incorrect", code="USER_NOT_FOUND_OR_INCORRECT")
        if not await asyncio.to_thread(self.passwords.verify, acc.password_hash, password):
            raise Forbidden("login or password is incorrect", code="USER_NOT_FOUND_OR_INCORRECT")
        self.check_usable(acc)
        return acc, self.mint(acc)

    @staticmethod
    def check_usable(acc: Account) -> None:
        if acc.disabled:
            raise PaymentRequired(f"login {acc.login} is disabled", code="USER_DISABLED")
        if acc.group not in KNOWN_GROUPS:
            raise NotFound(f"group {acc.group!r} of login {acc.login} does not exist", code="GROUP_NOT_FOUND")

    def authenticate(self, token: str) -> tuple[Account, Claims]:
        """The account behind a token, or 401 PERMISSION_DENIED (402/404 for unusable logins)."""
        if self.codec is None:
            raise Unauthorized("the server is starting", code="PERMISSION_DENIED")
        try:
            claims = _claims(self.codec.decode(token))
        except TokenInvalid:
            raise Unauthorized("invalid token", code="PERMISSION_DENIED") from None
        if self.core.clock.now_ms() >= claims.exp * 1000:
            raise Unauthorized("token expired", code="PERMISSION_DENIED")
        book = self.core.book
        if claims.jti in book.revoked:
            raise Unauthorized("token revoked (signed out)", code="PERMISSION_DENIED")
        acc = book.accounts.get(claims.login)
        if acc is None:
            raise Unauthorized("token of an unknown login", code="PERMISSION_DENIED")
        if claims.gen != acc.token_gen:
            raise Unauthorized("token revoked (password changed)", code="PERMISSION_DENIED")
        self.check_usable(acc)
        return acc, claims

    async def change_password(self, acc: Account, old: str, new: str) -> None:
        if len(new) < 6 or len(new) > 64:
            raise validate.bad("new_password", "must be 6 to 64 characters")
        if not await asyncio.to_thread(self.passwords.verify, acc.password_hash, old):
            raise Forbidden("old_password is incorrect", code="USER_NOT_FOUND_OR_INCORRECT")
        hashed = await asyncio.to_thread(self.passwords.hash, new)
        acc = self.core.book.accounts.get(acc.login, acc)  # the live object, after the awaits
        acc.password_hash = hashed
        acc.token_gen += 1
        work = Work()
        work.row(UPD_USER, acc)
        await self.core.commit(work)
        self.live.end(acc.login, None, SessionRevoked("password changed"))

    async def sign_out(self, acc: Account, claims: Claims) -> None:
        revoked = self.core.book.revoked
        if claims.jti not in revoked:
            revoked.add(claims.jti)
            work = Work()
            work.sql(INS_REVOKED, {"jti": claims.jti, "login": acc.login, "exp": claims.exp})
            await self.core.commit(work)
        self.live.end(acc.login, claims.jti, SessionRevoked("signed out"))
