"""Broker credentials: argon2id password hashes and HS256 JWTs on the domain clock.

A token carries `sub` (the login), `jti`, `iat`/`exp` (domain-clock epoch seconds) and `gen`,
the login's token generation: a password change bumps the generation, so every token issued
before it stops working; a sign-out revokes one `jti`. Expiry is checked against the domain
clock here (python-jose's own wall-clock check is switched off), so advancing the clock
expires tokens.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from jose import JWTError, jwt

ALGORITHM = "HS256"


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


class TokenError(Exception):
    pass


class Tokens:
    """Mint and decode broker JWTs; decoded claims are cached by token string."""

    def __init__(self, key: str, ttl_s: int, *, cache_size: int = 10_000) -> None:
        self._key = key
        self.ttl_s = ttl_s
        self._cache: OrderedDict[str, Claims] = OrderedDict()
        self._cache_size = cache_size

    def mint(self, login: int, gen: int, now_s: int) -> tuple[str, Claims]:
        claims = Claims(login, secrets.token_hex(12), now_s, now_s + self.ttl_s, gen)
        payload: dict[str, Any] = {
            "sub": str(login),
            "jti": claims.jti,
            "iat": claims.iat,
            "exp": claims.exp,
            "gen": gen,
            "typ": "broker",
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims

    def decode(self, token: str) -> Claims:
        """Signature and shape only; the caller checks expiry, generation and revocation."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
            if payload.get("typ") != "broker":
                raise TokenError("not a broker token")
            claims = Claims(
                int(payload["sub"]),
                str(payload["jti"]),
                int(payload["iat"]),
                int(payload["exp"]),
                int(payload["gen"]),
            )
        except (JWTError, KeyError, ValueError, TypeError) as exc:
            raise TokenError(str(exc) or "invalid token") from exc
        self._cache[token] = claims
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return claims
