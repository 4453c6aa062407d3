"""Every check of Order Entry input, in one place: the signed batch and its actions, the
control API's agents and funding, gap-fill and stream positions. Integers are bounded here
(CONTRACT §6 "Limits"): nothing beyond 2^63 − 1 reaches the engine, the database or the encoder.

Batch-level problems raise `InvalidInput` (HTTP 400 `INVALID_REQUEST`); a bad action raises
`Reject` with its per-action code (the other actions proceed).
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from app.engine import bounds
from app.engine.errors import InvalidInput
from app.engine.order_entry import auth
from app.engine.order_entry.markets import ASSETS, BY_ID, BY_SYMBOL, Market

MAX_ACTIONS = 500
MAX_AMOUNT = 10**15  # price, qty: keeps price × qty inside a 64-bit column
MAX_BALANCE = 2**62
MAX_LIMIT = 10_000
ACCOUNT_RE = re.compile(r"^0x[0-9a-f]{40}$")
ASSET_RE = re.compile(r"^[A-Z0-9]{1,16}$")
SIG_BYTES_RE = re.compile(r"^0x[0-9a-fA-F]*$")
ACTIONS = {
    "SpotPlaceOrder": "trade",
    "SpotReplaceOrder": "trade",
    "SpotCancelOrder": "cancel",
    "SpotCancelAll": "cancel",
}
TIFS = ("gtc", "ioc", "fok", "post_only")
BAD_BATCH = "INVALID_REQUEST"
_INT64_MIN = -bounds.INT64_MAX - 1


class Reject(Exception):
    """An action refused at admission, with what is known of it (market, clientOrderId)."""

    def __init__(self, code: str, market: Market | None = None, coid: str | None = None) -> None:
        self.code = code
        self.market = market
        self.coid = coid


is_int = bounds.is_int  # (one call per check: this runs for every field of every action)


def amount(v: Any) -> TypeGuard[int]:
    return is_int(v) and 0 < v <= MAX_AMOUNT


def valid_account(account: str) -> bool:
    return bool(ACCOUNT_RE.match(account.lower()))


# --- the batch --------------------------------------------------------------------------------------
def batch(raw: Any) -> tuple[list[Any], str | None]:
    """(actions, idempotencyKey) of a parsed batch body, else `InvalidInput` naming the field."""
    if not isinstance(raw, dict):
        raise InvalidInput.field("body", "must be a JSON object", code=BAD_BATCH)
    bounds.check_depth(raw, code=BAD_BATCH)
    version = raw.get("version")
    if not is_int(version) or version != 1:
        raise InvalidInput.field("version", "must be 1", code=BAD_BATCH)
    actions = raw.get("actions")
    if not isinstance(actions, list):
        raise InvalidInput.field("actions", "must be a list of actions", code=BAD_BATCH)
    if not actions or len(actions) > MAX_ACTIONS:
        raise InvalidInput.field("actions", f"must hold 1..{MAX_ACTIONS} actions", code=BAD_BATCH)
    key = raw.get("idempotencyKey")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
        raise InvalidInput.field("idempotencyKey", "must be a string of 1..200 characters", code=BAD_BATCH)
    return actions, key


def scopes_needed(actions: list[Any]) -> tuple[set[str], set[str]]:
    """(payload accounts, scopes) the actions name, for authorising the whole batch first."""
    accounts: set[str] = set()
    need: set[str] = set()
    for item in actions:
        payload = item.get("payload") if isinstance(item, dict) else None
        if not isinstance(payload, dict):
            continue
        acct = payload.get("account")
        if isinstance(acct, str):
            accounts.add(acct.lower())
        action = payload.get("action")
        if isinstance(action, dict) and len(action) == 1:
            scope = ACTIONS.get(next(iter(action)))
            if scope is not None:
                need.add(scope)
    return accounts, need


def envelope(item: Any) -> tuple[int, str, dict[str, Any], str | None]:
    """(payload nonce, action tag, action body, its clientOrderId if readable) of one signed
    action, else `Reject("INVALID_ORDER")`. The nonce is checked first: it is consumed even
    when the action is then refused (§6)."""
    payload = item.get("payload") if isinstance(item, dict) else None
    if not isinstance(payload, dict):
        raise Reject("INVALID_ORDER")
    action = payload.get("action")
    tag, body = None, None
    if isinstance(action, dict) and len(action) == 1:
        ((tag, body),) = action.items()
    coid = body.get("clientOrderId") if isinstance(body, dict) else None
    coid = coid if isinstance(coid, str) and 0 < len(coid) <= 64 else None
    nonce = payload.get("nonce")
    if not (
        isinstance(payload.get("account"), str)
        and is_int(nonce)
        and 0 < nonce <= bounds.INT64_MAX
        and is_int(ts := payload.get("ts"))
        and _INT64_MIN <= ts <= bounds.INT64_MAX
    ):
        raise Reject("INVALID_ORDER", None, coid)
    return nonce, str(tag), body if isinstance(body, dict) else {}, coid


def signature_and_action(item: dict[str, Any], tag: str, body: Any, coid: str | None) -> None:
    sig = item.get("signature")
    if not (
        isinstance(sig, dict)
        and isinstance(sig.get("scheme"), str)
        and sig["scheme"]
        and isinstance(sig.get("bytes"), str)
        and SIG_BYTES_RE.match(sig["bytes"])
    ):
        raise Reject("INVALID_ORDER", None, coid)
    if tag not in ACTIONS or not isinstance(item["payload"]["action"].get(tag), dict):
        raise Reject("INVALID_ORDER", None, coid)


def market(body: dict[str, Any], coid: str | None, *, optional: bool = False) -> Market | None:
    ref = body.get("market")
    if ref is None and optional:
        return None
    if is_int(ref):
        if not bounds.in_range(ref):
            raise Reject("INVALID_ORDER", None, coid)
        m = BY_ID.get(ref)
    elif isinstance(ref, str):
        m = BY_SYMBOL.get(ref) or (BY_ID.get(int(ref)) if ref.isdigit() and len(ref) <= 6 else None)
    else:
        raise Reject("INVALID_ORDER", None, coid)
    if m is None:
        raise Reject("UNKNOWN_MARKET", None, coid)
    return m


def client_order_id(body: dict[str, Any]) -> str | None:
    coid = body.get("clientOrderId")
    if coid is None:
        return None
    if not isinstance(coid, str) or not 0 < len(coid) <= 64:
        raise Reject("INVALID_ORDER")
    return coid


def order_id(body: dict[str, Any], m: Market, coid: str | None) -> str | None:
    oid = body.get("orderId")
    if oid is not None and (not isinstance(oid, str) or not 0 < len(oid) <= 32):
        raise Reject("INVALID_ORDER", m, coid)
    return oid


def place(body: dict[str, Any]) -> tuple[Market, str | None, str, int, int, str]:
    """(market, clientOrderId, side, price, qty, timeInForce) of a SpotPlaceOrder."""
    coid = client_order_id(body)
    m = market(body, coid)
    assert m is not None
    side, price, qty = body.get("side"), body.get("price"), body.get("qty")
    tif = body.get("timeInForce", "gtc")
    if side not in ("Bid", "Ask") or not amount(price) or not amount(qty) or tif not in TIFS:
        raise Reject("INVALID_ORDER", m, coid)
    if qty % m.min_qty:
        raise Reject("INVALID_ORDER", m, coid)
    if m.status != "open":
        raise Reject("MARKET_HALTED", m, coid)
    return m, coid, side, price, qty, tif


def replace(body: dict[str, Any]) -> tuple[Market, str, int | None, int | None]:
    """(market, orderId, price?, qty?) of a SpotReplaceOrder."""
    m = market(body, None)
    assert m is not None
    oid, price, qty = body.get("orderId"), body.get("price"), body.get("qty")
    if not isinstance(oid, str) or not 0 < len(oid) <= 32 or (price is None and qty is None):
        raise Reject("INVALID_ORDER", m)
    if (price is not None and not amount(price)) or (
        qty is not None and (not amount(qty) or qty % m.min_qty)
    ):
        raise Reject("INVALID_ORDER", m)
    if m.status != "open":
        raise Reject("MARKET_HALTED", m)
    return m, oid, price, qty


# --- control API ------------------------------------------------------------------------------------
def scopes(value: Any) -> list[str]:
    if value is None:
        return list(auth.SCOPES)
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise InvalidInput.field("scopes", f"must be a non-empty list of {', '.join(auth.SCOPES)}")
    bad = [s for s in value if s not in auth.SCOPES]
    if bad:
        raise InvalidInput.field("scopes", f"unknown scope {bad[0]!r}; one of {', '.join(auth.SCOPES)}")
    return [s for s in auth.SCOPES if s in value]


def new_agent_account(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not valid_account(value):
        raise InvalidInput.field("account", "must be 0x followed by 40 hex digits")
    return value.lower()


def account(value: str) -> str:
    if not valid_account(value):
        raise InvalidInput.field("account", "must be 0x followed by 40 hex digits")
    return value.lower()


def funds(balances: Any, free: Any) -> dict[str, int]:
    """{asset: amount} to credit; `free(asset)` is the current free balance."""
    if not isinstance(balances, dict) or not balances:
        raise InvalidInput.field("balances", 'must be an object {"ASSET": integer}')
    for asset, value in balances.items():
        if not ASSET_RE.match(asset):
            raise InvalidInput.field(
                f"balances.{asset}", f"an asset is 1-16 of A-Z 0-9 (the markets use {', '.join(ASSETS)})"
            )
        if not is_int(value):
            raise InvalidInput.field(f"balances.{asset}", "must be an integer (smallest units)")
        after = free(asset) + value
        if after < 0 or after > MAX_BALANCE:
            raise InvalidInput.field(f"balances.{asset}", "the free balance would leave 0..2^62")
    return dict(balances)


# --- reads ------------------------------------------------------------------------------------------
def gap_fill(from_seq: Any, limit: Any) -> tuple[int, int]:
    """`?fromSeq=` (default 1) and `?limit=` (default 1000, 1..10000) of the executions read."""
    f = 1 if from_seq is None else bounds.int_field(from_seq, "fromSeq", code=BAD_BATCH)
    n = 1000 if limit is None else bounds.int_field(limit, "limit", lo=1, hi=MAX_LIMIT, code=BAD_BATCH)
    return max(f, 1), n


def stream_position(raw: Any) -> int | str | None:
    """A WebSocket `fromSeq`: None (live only), an int ≥ 0, or why it is refused."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and raw.isdigit() and len(raw) <= 19:
        raw = int(raw)
    if is_int(raw) and 0 <= raw <= bounds.INT64_MAX:
        return int(raw)
    return "fromSeq must be an integer from 0 to 2^63-1"
