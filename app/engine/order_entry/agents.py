"""Agents: API keys, their scopes and revocation, and SC-* HMAC-V2 request verification
(CONTRACT §4.1). The router hands over the plain values it read from the request; nothing
here knows HTTP.

Other parts of the server (the FIX drop-copy) use `agent_for_key` and `on_revoke`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from app.clock import DomainClock, wall_ms
from app.engine import bounds
from app.engine.errors import Forbidden, NotFound, Unauthorized
from app.engine.order_entry import auth, store, validate
from app.engine.order_entry.model import AccountState, Agent, VenueState
from app.engine.streams import Emit
from app.engine.streams.unit import UnitOfWork

log = logging.getLogger("refserver.order_entry")

NONCE_MEMORY = 200_000  # per key, before nonces older than NONCE_HORIZON_MS are forgotten
NONCE_HORIZON_MS = 600_000


class SessionRevoked(Exception):
    """The API key of a live session was revoked: the session ends."""


class ServiceStopping(Exception):
    """The server is stopping: every live session ends."""


SessionEnd = Callable[[Exception], None]


@dataclass(frozen=True, slots=True)
class SignedCall:
    """The SC-* values of one request, as sent (None when absent), and what they sign."""

    version: str | None
    key: str | None
    nonce: str | None
    timestamp: str | None
    passphrase: str | None
    signature: str | None
    method: str
    path: str
    query: str
    body: bytes


class Agents:
    """The API keys in memory (loaded from `oe_agents`), and who listens for revocations."""

    def __init__(
        self, clock: DomainClock, venue: VenueState, uow: UnitOfWork, box: Callable[[], Any]
    ) -> None:
        self.clock = clock
        self.venue = venue
        self.uow = uow
        self._box = box  # async () -> SecretBox
        self.by_key: dict[str, Agent] = {}
        self._revoke_hooks: list[Callable[[str], None]] = []
        # live sessions per API key (WebSocket), ended at once when the key is revoked
        self.sessions: dict[str, set[SessionEnd]] = {}

    def load(self, rows: list[Any], box: auth.SecretBox) -> None:
        self.by_key = {
            key_id: Agent(
                key_id,
                account,
                box.decrypt(secret_enc),
                pp_hash,
                frozenset(s for s in scopes.split(",") if s),
                bool(revoked),
                bool(demo),
                box,
            )
            for key_id, account, secret_enc, pp_hash, scopes, revoked, demo in rows
        }

    # --- the API other parts of the server build on -----------------------------------------------
    def agent_for_key(self, key_id: str) -> Agent | None:
        """The agent of `key_id` (revoked ones too: check `agent.revoked`), else None."""
        return self.by_key.get(key_id)

    def on_revoke(self, callback: Callable[[str], None]) -> None:
        """Call `callback(api_key_id)` whenever a key is revoked (after the revocation commits)."""
        self._revoke_hooks.append(callback)

    def watch(self, key_id: str, end: SessionEnd) -> Callable[[], None]:
        """Register a live session of `key_id`; `end(outcome)` is called when it must close.
        Returns the function that unregisters it."""
        sessions = self.sessions.setdefault(key_id, set())
        sessions.add(end)

        def forget() -> None:
            sessions.discard(end)
            if not sessions and self.sessions.get(key_id) is sessions:
                del self.sessions[key_id]

        return forget

    def end_sessions(self, outcome: Exception, key_id: str | None = None) -> None:
        groups = [self.sessions.get(key_id, set())] if key_id is not None else list(self.sessions.values())
        for sessions in groups:
            for end in list(sessions):
                with contextlib.suppress(Exception):
                    end(outcome)

    # --- control API ----------------------------------------------------------------------------
    async def create(self, scopes: Any, account: Any) -> dict[str, Any]:
        scope_list = validate.scopes(scopes)
        acct = validate.new_agent_account(account) or auth.new_account()
        box = await self._box()
        key_id, secret, passphrase = auth.new_credentials()
        agent = Agent(key_id, acct, secret, box.hash_passphrase(passphrase), frozenset(scope_list), box=box)
        row = {
            "k": key_id,
            "a": acct,
            "s": box.encrypt(secret),
            "p": agent.passphrase_hash,
            "sc": ",".join(scope_list),
            "demo": False,
            "now": self.clock.now_ms(),
        }

        def write(conn: Connection, emit: Emit) -> None:
            store.insert_agents(conn, [row])

        def apply(_: None) -> None:
            self.by_key[key_id] = agent
            self.venue.accounts.setdefault(acct, AccountState(acct))  # its row was written with the agent

        await self.uow.commit(write, apply)
        return {
            "apiKeyId": key_id,
            "apiSecret": secret,
            "apiPassphrase": passphrase,
            "account": acct,
            "scopes": scope_list,
        }

    async def revoke(self, key_id: str) -> dict[str, Any]:
        agent = self.by_key.get(key_id)
        if agent is None:
            raise NotFound(f"unknown apiKeyId {key_id!r}")
        agent.revoked = True  # at once: no request passes after this line (a failed commit reloads the truth)

        def write(conn: Connection, emit: Emit) -> None:
            store.revoke_agent(conn, key_id)

        def apply(_: None) -> None:
            self.end_sessions(SessionRevoked("api key revoked"), key_id)
            for hook in list(self._revoke_hooks):
                try:
                    hook(key_id)
                except Exception:  # one listener's bug must not undo a revocation
                    log.exception("a revocation hook failed")

        await self.uow.commit(write, apply)
        return {"apiKeyId": key_id, "account": agent.account, "revoked": True}

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "apiKeyId": a.api_key_id,
                "account": a.account,
                "scopes": sorted(a.scopes),
                "revoked": a.revoked,
                "demo": a.demo,
            }
            for a in self.by_key.values()
        ]

    # --- request verification -------------------------------------------------------------------
    def authenticate(self, call: SignedCall) -> Agent:
        """Check one signed call (CONTRACT §4.1); `Unauthorized` with the precise code."""
        c = call
        if not (c.version and c.key and c.nonce and c.timestamp and c.passphrase and c.signature):
            names = ("SC-Auth-Version", "SC-Key", "SC-Nonce", "SC-Timestamp", "SC-Passphrase", "SC-Signature")
            values = (c.version, c.key, c.nonce, c.timestamp, c.passphrase, c.signature)
            missing = [n for n, v in zip(names, values, strict=True) if not v]
            raise Unauthorized(f"missing auth header(s): {', '.join(missing)}", code="MISSING_AUTH")
        if c.version.strip() != "2":
            raise Unauthorized("SC-Auth-Version must be 2", code="MISSING_AUTH")
        if not c.nonce.isdigit() or len(c.nonce) > 19 or int(c.nonce) > bounds.INT64_MAX:
            raise Unauthorized("SC-Nonce must be an integer (ms)", code="MISSING_AUTH")
        ts = c.timestamp.strip()
        if not ts.lstrip("-").isdigit() or len(ts) > 19:
            raise Unauthorized("SC-Timestamp must be an integer (ms)", code="MISSING_AUTH")
        agent = self.by_key.get(c.key)
        if agent is None or agent.revoked:
            raise Unauthorized("unknown or revoked API key", code="INVALID_KEY")
        if not agent.verify_passphrase(c.passphrase):
            raise Unauthorized("wrong passphrase", code="INVALID_PASSPHRASE")
        canonical = auth.canonical_string(c.key, c.nonce, c.timestamp, c.method, c.path, c.query, c.body)
        if not auth.signature_ok(agent.secret, canonical, c.signature):
            raise Unauthorized("signature does not match the canonical request", code="INVALID_SIGNATURE")
        if abs(wall_ms() - int(ts)) > auth.SKEW_MS:
            raise Unauthorized("SC-Timestamp is more than 30 s from server time", code="TIMESTAMP_SKEW")
        nonces = agent.nonces
        if c.nonce in nonces:
            raise Unauthorized("SC-Nonce already used by this key", code="NONCE_REPLAY")
        now = wall_ms()
        nonces[c.nonce] = now
        if len(nonces) > NONCE_MEMORY:
            # bounded memory: forget nonces used long ago (far outside the ±30 s timestamp window,
            # so a captured request can never be replayed once its nonce is forgotten)
            horizon = now - NONCE_HORIZON_MS
            for old in [n for n, t in nonces.items() if t < horizon]:
                del nonces[old]
        return agent

    @staticmethod
    def require_scope(agent: Agent, scope: str) -> None:
        if scope not in agent.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope", code="SCOPE_REQUIRED")

    @staticmethod
    def require_account(agent: Agent, account: str) -> str:
        acct = account.lower()
        if acct != agent.account:
            raise Forbidden("this account is not the API key's account", code="FORBIDDEN")
        return acct
