"""Musubi participants and their tokens (CONTRACT §2.1).

Tokens are HS256 JWTs (the shared `JwtCodec`) whose lifetimes run on the domain clock:
advancing the control-API clock expires them. The codec verifies signature, audience and
issuer once per token (cached); expiry and the participant's existence are checked on every
request.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from app.engine.auth.jwt import JwtCodec, TokenInvalid
from app.engine.errors import Unauthorized
from app.engine.musubi import validate as v
from app.engine.musubi.model import ROLES, Changes, Memory, Participant, party_fingerprint
from app.engine.musubi.store import Store

ISSUER = "musubi"
AUDIENCE = "musubi-api"


def unauthorized(message: str) -> Unauthorized:
    return Unauthorized(message, code="UNAUTHORIZED")


class TokenAuthority:
    def __init__(self, key: str, now_ms: Callable[[], int], ttl_s: int) -> None:
        self.codec = JwtCodec(key, audience=AUDIENCE, issuer=ISSUER, cache_size=50_000)
        self.now_ms = now_ms
        self.ttl_s = ttl_s

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
        return self.codec.encode(claims), self.ttl_s

    def verify(self, token: str) -> str:
        """The party id the token speaks for; raises UNAUTHORIZED for any bad token."""
        try:
            claims = self.codec.decode(token)
        except TokenInvalid as exc:
            raise unauthorized(f"invalid token: {exc}") from None
        party = claims.get("canton_party_id") or claims.get("sub")
        exp = claims.get("exp")
        if not isinstance(party, str) or not isinstance(exp, int | float) or claims.get("sub") != party:
            raise unauthorized("invalid token: claims sub/canton_party_id/exp missing")
        if self.now_ms() >= int(exp) * 1000:
            raise unauthorized("token expired")
        return party

    def forget(self) -> None:
        self.codec.forget()


class Participants:
    def __init__(self, memory: Memory, store: Store, now_ms: Callable[[], int]) -> None:
        self.memory = memory
        self.store = store
        self.now_ms = now_ms
        self.auth: TokenAuthority | None = None

    async def create(self, name: Any, role: Any) -> Participant:
        """Control API: a new participant with fresh credentials."""
        errors = v.Errors()
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            errors.add("name", "must be a non-empty string of at most 64 characters")
        if role not in ROLES:
            errors.add("role", "must be one of " + ", ".join(ROLES))
        errors.raise_if_any()
        assert isinstance(name, str) and isinstance(role, str)
        # the party hint keeps the name's letters, digits, '_' and '-' (others become '_')
        hint = re.sub(r"[^A-Za-z0-9_\-]", "_", name.strip())
        if not hint[0].isalpha():
            hint = "P" + hint
        hint = hint[:64]
        pid = f"{hint}::{party_fingerprint(uuid.uuid4().hex)}"
        client_id = f"{hint.lower()}-{secrets.token_hex(4)}"
        p = Participant(pid, name, role, client_id, secrets.token_urlsafe(24), False, self.now_ms())
        ch = Changes()
        ch.participants.append(p)
        await self.store.commit(ch)
        return p

    def issue_token(self, client_id: Any, client_secret: Any) -> tuple[str, int, Participant]:
        """`POST /auth/token`. Missing or non-string credentials are a 400 naming the field; an
        empty or wrong one is a 401, so an empty secret is refused exactly like a wrong one."""
        errors = v.Errors()
        if not isinstance(client_id, str):
            errors.add("client_id", "is required (a string)")
        if not isinstance(client_secret, str):
            errors.add("client_secret", "is required (a string)")
        errors.raise_if_any()
        assert isinstance(client_id, str) and isinstance(client_secret, str)
        p = self.memory.by_client.get(client_id)
        if (
            p is None
            or not client_secret
            or not secrets.compare_digest(p.client_secret.encode(), client_secret.encode())
        ):
            raise unauthorized("invalid client credentials")
        assert self.auth is not None
        token, ttl = self.auth.mint(p)
        return token, ttl, p

    def authenticate(self, token: str | None) -> Participant:
        if not token:
            raise unauthorized("missing bearer token: Authorization: Bearer <jwt>")
        if self.auth is None:
            raise unauthorized("the service is starting")
        p = self.memory.participants.get(self.auth.verify(token))
        if p is None:
            raise unauthorized("unknown participant")
        return p

    def mint_for(self, who: str) -> str:
        """`refserver token musubi <client_id|name|party_id>`."""
        for p in self.memory.participants.values():
            if who in (p.client_id, p.name, p.party_id):
                assert self.auth is not None
                return self.auth.mint(p)[0]
        raise SystemExit(f"no Musubi participant {who!r}")
