"""All broker input validation: request fields, symbols, volumes, prices, stops and alerts.
Every refusal is 400 INVALID_DATA naming the field."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from app.engine import bounds
from app.engine.broker import conditions
from app.engine.broker.model import BUY_LIMIT, BUY_STOP, MONEY_MAX, SELL_LIMIT, SELL_STOP, Alert, Quote, dec
from app.engine.broker.symbols import BY_NAME, Symbol
from app.engine.errors import InvalidInput

INVALID = "INVALID_DATA"
MAX_ABS = 1e12  # no price or amount beyond ±10^12 (CONTRACT §6)
ID_MAX = bounds.INT64_MAX
TIME_MAX = 253_402_300_799  # epoch seconds of 9999-12-31T23:59:59Z
LOGIN_MAX = 10**15  # explicit logins stay far below 2^63, so the next auto login always fits


def bad(name: str, reason: str) -> InvalidInput:
    return InvalidInput.field(name, reason, code=INVALID)


def _present(body: Mapping[str, Any], name: str) -> bool:
    return name in body and body[name] is not None


_ABSENT = object()


def _get(body: Mapping[str, Any], name: str, required: bool) -> Any:
    """The field's value, `_ABSENT` when absent or null (400 if `required`)."""
    if _present(body, name):
        return body[name]
    if required:
        raise bad(name, "is required")
    return _ABSENT


def integer(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: int | None = None,
    lo: int = -bounds.INT64_MAX - 1,
    hi: int = bounds.INT64_MAX,
    allow_str: bool = False,
) -> int | None:
    """An integer in [lo, hi] (never beyond 64 bits, CONTRACT §6); floats with no fraction pass."""
    v = _get(body, name, required)
    if v is _ABSENT:
        return default
    if isinstance(v, str) and allow_str:
        try:
            v = int(v.strip())
        except ValueError:
            raise bad(name, "must be an integer") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise bad(name, "must be an integer")
    if isinstance(v, float):
        if not math.isfinite(v) or not v.is_integer():
            raise bad(name, "must be an integer")
        v = int(v)
    if v < lo:
        raise bad(name, f"must be at least {lo}")
    if v > hi:
        raise bad(name, f"must be at most {hi}")
    return int(v)


def req_int(body: Mapping[str, Any], name: str, **kw: Any) -> int:
    v = integer(body, name, required=True, **kw)
    assert v is not None
    return v


def number(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: float | None = None,
    positive: bool = False,
    non_negative: bool = False,
    allow_str: bool = False,
    max_abs: float = MAX_ABS,
) -> float | None:
    """A finite number (prices, thresholds) no larger than `max_abs` in magnitude."""
    v = _get(body, name, required)
    if v is _ABSENT:
        return default
    if isinstance(v, str) and allow_str:
        try:
            v = float(v.strip())
        except ValueError:
            raise bad(name, "must be a number") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise bad(name, "must be a number")
    f = float(v)
    if not math.isfinite(f):
        raise bad(name, "must be a finite number")
    if abs(f) > max_abs:
        raise bad(name, f"must be between -{max_abs:.0e} and {max_abs:.0e}")
    if positive and f <= 0:
        raise bad(name, "must be greater than 0")
    if non_negative and f < 0:
        raise bad(name, "must not be negative")
    return f


def amount(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: Decimal | None = None,
    non_negative: bool = False,
) -> Decimal | None:
    """Money: an exact decimal (the JSON number as written), within ±10^12 (CONTRACT §6)."""
    v = _get(body, name, required)
    if v is _ABSENT:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise bad(name, "must be a number")
    if isinstance(v, float) and not math.isfinite(v):
        raise bad(name, "must be a finite number")
    d = dec(v)
    if abs(d) > MONEY_MAX:
        raise bad(name, "must be between -10^12 and 10^12")
    if non_negative and d < 0:
        raise bad(name, "must not be negative")
    return d


def string(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: str | None = None,
    min_len: int = 0,
    max_len: int = 1000,
) -> str | None:
    v = _get(body, name, required)
    if v is _ABSENT:
        return default
    if not isinstance(v, str):
        raise bad(name, "must be a string")
    if len(v) < min_len:
        raise bad(name, f"must be at least {min_len} characters")
    if len(v) > max_len:
        raise bad(name, f"must be at most {max_len} characters")
    return v


def req_str(body: Mapping[str, Any], name: str, **kw: Any) -> str:
    v = string(body, name, required=True, **kw)
    assert v is not None
    return v


def flag(body: Mapping[str, Any], name: str, *, default: int = 0) -> int:
    """0/1 (also true/false)."""
    if not _present(body, name):
        return default
    v = body[name]
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and v in (0, 1):
        return v
    raise bad(name, "must be 0 or 1")


def symbol(name: Any, field: str = "symbol") -> Symbol:
    if not isinstance(name, str) or not name:
        raise bad(field, "is required" if name is None else "must be a string")
    sym = BY_NAME.get(name.strip().upper())
    if sym is None:
        raise bad(field, f"unknown symbol {name!r}")
    return sym


def volume(sym: Symbol, vol: int, field: str = "volume") -> None:
    if vol < sym.vol_min or vol > sym.vol_max:
        raise bad(field, f"must be between {sym.vol_min} and {sym.vol_max} (hundredths of a lot)")
    if (vol - sym.vol_min) % sym.vol_step:
        raise bad(field, f"must be a multiple of the lot step {sym.vol_step} (hundredths of a lot)")


def price(sym: Symbol, value: float | None) -> float:
    return 0.0 if not value else round(value, sym.digits)


def stops(buy_side: bool, ref: float, sl: float, tp: float) -> None:
    """SL/TP on the losing/winning side of `ref` (the close-side price or the pending price)."""
    if buy_side:
        if sl and sl >= ref:
            raise bad("sl", f"must be below {ref} for a buy")
        if tp and tp <= ref:
            raise bad("tp", f"must be above {ref} for a buy")
    else:
        if sl and sl <= ref:
            raise bad("sl", f"must be above {ref} for a sell")
        if tp and tp >= ref:
            raise bad("tp", f"must be below {ref} for a sell")


_PENDING_OK: dict[int, tuple[str, Callable[[Quote, float], bool]]] = {
    BUY_LIMIT: ("below the ask", lambda q, p: p < q.ask),
    SELL_LIMIT: ("above the bid", lambda q, p: p > q.bid),
    BUY_STOP: ("above the ask", lambda q, p: p > q.ask),
    SELL_STOP: ("below the bid", lambda q, p: p < q.bid),
}


def pending_price(cmd: int, q: Quote, value: float) -> None:
    where, ok = _PENDING_OK[cmd]
    if not ok(q, value):
        raise bad("open_price", f"must be {where} ({q.bid}/{q.ask}) for cmd {cmd}")


def expiration(value: int, now_ms: int, field: str = "expiration") -> None:
    if value and value * 1000 <= now_ms:
        raise bad(field, "must be in the future (epoch seconds)")


def alert(a: Alert, now_ms: int) -> None:
    if a.side not in (0, 1):
        raise bad("side", "must be 0 (bid) or 1 (ask)")
    if not 0 <= a.condition <= 12:
        raise bad("condition", "must be between 0 and 12")
    if a.repeat_mode not in (0, 1):
        raise bad("repeat_mode", "must be 0 (once) or 1 (repeating)")
    c = a.condition
    needs = f"is required for condition {c} ({conditions.CONDITION_NAMES[c]})"
    if c in conditions.TARGET_CONDITIONS and not a.target_price:
        raise bad("target_price", needs)
    if c in conditions.CHANNEL_CONDITIONS:
        for name in ("channel_low", "channel_high"):
            if not getattr(a, name):
                raise bad(name, needs)
        assert a.channel_low is not None and a.channel_high is not None
        if a.channel_low >= a.channel_high:
            raise bad("channel_high", "must be greater than channel_low")
    if c in conditions.MOVE_CONDITIONS and not a.move_threshold:
        raise bad("move_threshold", needs)
    if a.move_threshold is not None and a.move_threshold < 0:
        raise bad("move_threshold", "must be greater than 0")
    if a.expires_at:
        expiration(a.expires_at, now_ms, "expires_at")


def settings_values(body: Mapping[str, Any]) -> dict[str, Any]:
    """`POST /settings`: keys of 1 to 255 characters; values of any JSON nested at most 64 deep."""
    values = {k: v for k, v in body.items() if k != "login"}
    for k in values:
        if not k or len(k) > 255:
            raise bad("key", "setting keys must be 1 to 255 characters")
    return values
