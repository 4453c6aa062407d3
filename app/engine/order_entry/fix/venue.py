"""The FIX drop-copy's one door into the Order Entry venue: API keys, revocation, markets.

Nothing else under `fix/` touches the Order Entry service; this adapter is the narrow
interface the sessions need:

- `key(key_id)` → `Key` (account, scopes, revoked, passphrase and HMAC checks) or None;
- `on_revoke(key_id, callback)` → a function that unregisters; `callback("KEY_REVOKED")` runs
  when the key is revoked (`callback("server stopping")` when the venue stops);
- `symbol(market)` → the market's `BASE-QUOTE` or None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.engine.order_entry.agents import SessionRevoked
from app.engine.order_entry.markets import BY_ID

FAMILY = "order-entry"


@dataclass(frozen=True, slots=True)
class Key:
    key_id: str
    account: str
    scopes: frozenset[str]
    revoked: bool
    _agent: Any
    _service: Any

    def passphrase_ok(self, passphrase: str) -> bool:
        return bool(self._agent.verify_passphrase(passphrase))

    def signature_ok(self, signed: bytes, raw_data: bytes) -> bool:
        """`raw_data` is base64 of HMAC-SHA256(apiSecret, signed)."""
        want = base64.b64encode(hmac.new(self._agent.secret.encode(), signed, hashlib.sha256).digest())
        return hmac.compare_digest(want, raw_data.strip())


class Venue:
    def __init__(self, service: Callable[[], Any]) -> None:
        self._service = service

    def key(self, key_id: str) -> Key | None:
        svc = self._service()
        agent = svc.agent_for_key(key_id)
        if agent is None:
            return None
        return Key(key_id, agent.account, frozenset(agent.scopes), bool(agent.revoked), agent, svc)

    def on_revoke(self, key_id: str, callback: Callable[[str], None]) -> Callable[[], None]:
        def end(outcome: Exception) -> None:
            callback("KEY_REVOKED" if isinstance(outcome, SessionRevoked) else "server stopping")

        unregister: Callable[[], None] = self._service().agents.watch(key_id, end)
        return unregister

    @staticmethod
    def symbol(market: Any) -> str | None:
        m = BY_ID.get(market) if isinstance(market, int) and not isinstance(market, bool) else None
        return None if m is None else m.symbol
