"""HS256 JWTs for every family (python-jose), with a bounded cache of verified tokens.

The cache holds the claims of tokens whose signature was verified; time-dependent checks
(expiry, revocation) stay with the caller, so a cached token is never trusted past them.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from types import ModuleType
from typing import Any

ALGORITHM = "HS256"
_NO_TIME_CHECKS = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}


@functools.cache
def _jose() -> ModuleType:
    """python-jose, imported with the first token (it brings `cryptography`: ~40 ms of start-up)."""
    from jose import jwt

    module: ModuleType = jwt
    return module


class TokenInvalid(Exception):
    """The token is not one of ours: malformed, wrongly signed, or with the wrong audience."""


class JwtCodec:
    def __init__(
        self, key: str, *, audience: str | None = None, issuer: str | None = None, cache_size: int = 10_000
    ) -> None:
        self._key = key
        self._audience = audience
        self._issuer = issuer
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, claims: dict[str, Any]) -> str:
        return str(_jose().encode(claims, self._key, algorithm=ALGORITHM))

    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims (signature, audience, issuer); expiry is the caller's to judge."""
        hit = self._cache.get(token)
        if hit is not None:
            return hit
        options = dict(_NO_TIME_CHECKS, verify_aud=self._audience is not None)
        jwt = _jose()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options=options,
            )
        except jwt.JWTError as exc:
            raise TokenInvalid(str(exc) or "invalid token") from None
        self._cache[token] = claims
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return claims

    def forget(self) -> None:
        self._cache.clear()
