"""Musubi JWTs: HS256 via python-jose, lifetimes on the domain clock.

python-jose checks `exp` against wall time; we switch that off and check `exp` against the
domain clock ourselves, so advancing the control-API clock expires tokens. Verified tokens are
cached (signature and claims checked once); expiry and the participant's existence are checked
on every request.
"""

from __future__ import annotations

from collections.abc import Callable

from jose import JWTError, jwt

from app.engine.errors import Unauthorized
from app.engine.musubi.model import Participant

ISSUER = "musubi"
AUDIENCE = "musubi-api"
_OPTIONS = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require_exp": True}
_CACHE_MAX = 50_000


def unauthorized(message: str) -> Unauthorized:
    return Unauthorized(message, code="UNAUTHORIZED")


class TokenAuthority:
    def __init__(self, key: str, now_ms: Callable[[], int], ttl_s: int) -> None:
        self.key = key
        self.now_ms = now_ms
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[str, int]] = {}  # token -> (party_id, exp seconds)

    def mint(self, participant: Participant) -> tuple[str, int]:
        """A token for `participant` and its lifetime in seconds."""
        iat = self.now_ms() // 1000
        claims = {
            "sub": participant.party_id,
            "canton_party_id": participant.party_id,
            "role": participant.role,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": iat,
            "exp": iat + self.ttl_s,
        }
        return jwt.encode(claims, self.key, algorithm="HS256"), self.ttl_s

    def verify(self, token: str) -> str:
        """The party id the token speaks for; raises UNAUTHORIZED for any bad token."""
        hit = self._cache.get(token)
        if hit is None:
            try:
                claims = jwt.decode(
                    token, self.key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER, options=_OPTIONS
                )
            except JWTError as exc:
                raise unauthorized(f"invalid token: {exc}") from None
            party = claims.get("canton_party_id") or claims.get("sub")
            exp = claims.get("exp")
            if not isinstance(party, str) or not isinstance(exp, int | float) or claims.get("sub") != party:
                raise unauthorized("invalid token: claims sub/canton_party_id/exp missing")
            hit = (party, int(exp))
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[token] = hit
        if self.now_ms() >= hit[1] * 1000:
            raise unauthorized("token expired")
        return hit[0]

    def forget(self) -> None:
        self._cache.clear()
