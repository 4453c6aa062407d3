"""Reading request fields: every refusal is 400 INVALID_DATA naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from app.engine.errors import InvalidInput

INVALID = "INVALID_DATA"


def bad(name: str, reason: str) -> InvalidInput:
    return InvalidInput.field(name, reason, code=INVALID)


def _present(body: Mapping[str, Any], name: str) -> bool:
    return name in body and body[name] is not None


def integer(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
    allow_str: bool = False,
) -> int | None:
    if not _present(body, name):
        if required:
            raise bad(name, "is required")
        return default
    v = body[name]
    if isinstance(v, str) and allow_str:
        try:
            v = int(v.strip())
        except ValueError:
            raise bad(name, "must be an integer") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise bad(name, "must be an integer")
    if isinstance(v, float):
        if not v.is_integer():
            raise bad(name, "must be an integer")
        v = int(v)
    if lo is not None and v < lo:
        raise bad(name, f"must be at least {lo}")
    if hi is not None and v > hi:
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
) -> float | None:
    if not _present(body, name):
        if required:
            raise bad(name, "is required")
        return default
    v = body[name]
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
    if positive and f <= 0:
        raise bad(name, "must be greater than 0")
    if non_negative and f < 0:
        raise bad(name, "must not be negative")
    return f


def string(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    default: str | None = None,
    min_len: int = 0,
    max_len: int = 1000,
) -> str | None:
    if not _present(body, name):
        if required:
            raise bad(name, "is required")
        return default
    v = body[name]
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
