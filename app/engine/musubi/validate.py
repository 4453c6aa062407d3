"""Field validation for the Musubi wire: every bad field becomes one `details` entry."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.engine.errors import InvalidInput
from app.engine.musubi.model import CURRENCIES, STATUSES

PARTY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}::1220[0-9a-f]{64}$")
JURISDICTION_RE = re.compile(r"^[A-Z]{2}$")
_DECIMAL_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class Errors:
    """Collects `{"field","reason"}` entries; `raise_if_any()` raises one VALIDATION_ERROR."""

    def __init__(self) -> None:
        self.details: list[dict[str, str]] = []

    def add(self, field: str, reason: str) -> None:
        self.details.append({"field": field, "reason": reason})

    def __bool__(self) -> bool:
        return bool(self.details)

    def raise_if_any(self) -> None:
        if self.details:
            message = "; ".join(f"{d['field']}: {d['reason']}" for d in self.details)
            raise InvalidInput(message, code="VALIDATION_ERROR", details=self.details)


def invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput.field(field, reason, code="VALIDATION_ERROR")


def decimal_str(value: Any, field: str, errors: Errors, *, max_places: int = 6) -> str | None:
    """A positive decimal given as a JSON string with at most `max_places` fractional digits."""
    if value is None:
        errors.add(field, "is required")
        return None
    if not isinstance(value, str):
        errors.add(field, 'must be a decimal string, e.g. "100000"')
        return None
    if not _DECIMAL_RE.match(value) or len(value) > 40:
        errors.add(field, 'must be a decimal string of digits with an optional fraction, e.g. "112.5"')
        return None
    if "." in value and len(value.split(".", 1)[1]) > max_places:
        errors.add(field, f"must have at most {max_places} fractional digits")
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        errors.add(field, "must be a decimal string")
        return None
    if d <= 0:
        errors.add(field, "must be greater than 0")
        return None
    return value


def string(value: Any, field: str, errors: Errors, *, max_len: int, required: bool = True) -> str | None:
    if value is None:
        if required:
            errors.add(field, "is required")
        return None
    if not isinstance(value, str):
        errors.add(field, "must be a string")
        return None
    if required and not value.strip():
        errors.add(field, "must not be empty")
        return None
    if len(value) > max_len:
        errors.add(field, f"must be at most {max_len} characters")
        return None
    return value


def party_id(value: Any, field: str, errors: Errors) -> str | None:
    if value is None:
        errors.add(field, "is required")
        return None
    if not isinstance(value, str) or not PARTY_RE.match(value):
        errors.add(field, "must be a Canton party id: Name::1220<64 hex>")
        return None
    return value


def currency(value: Any, field: str, errors: Errors) -> str | None:
    if value is None:
        errors.add(field, "is required")
        return None
    if value not in CURRENCIES:
        errors.add(field, "must be one of JPYSC0, USDCx")
        return None
    return str(value)


def uuid_str(value: Any, field: str, errors: Errors) -> str | None:
    if value is None:
        errors.add(field, "is required")
        return None
    if not isinstance(value, str) or not is_uuid(value):
        errors.add(field, "must be a UUID, e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6")
        return None
    return value


def is_uuid(value: str) -> bool:
    if len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def jurisdiction(value: Any, field: str, errors: Errors) -> str | None:
    if value is None:
        errors.add(field, "is required")
        return None
    if not isinstance(value, str) or not JURISDICTION_RE.match(value):
        errors.add(field, 'must be an ISO 3166-1 alpha-2 country code, e.g. "JP"')
        return None
    return value


def parse_ts(value: str) -> int | None:
    """ISO-8601 → epoch ms (naive times are UTC); None when unparsable."""
    if not isinstance(value, str) or len(value) < 10 or len(value) > 40:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def timestamp(value: Any, field: str, errors: Errors) -> int | None:
    if value is None:
        errors.add(field, "is required")
        return None
    ms = parse_ts(value) if isinstance(value, str) else None
    if ms is None:
        errors.add(field, "must be an ISO-8601 timestamp, e.g. 2025-03-15T09:00:00.000Z")
    return ms


# --- list queries -------------------------------------------------------------------------------
SORT_FIELDS = ("created_at", "target_amount", "status", "settled_at")


class ListQuery:
    """The list parameters of CONTRACT §2.3, validated; unknown parameters are ignored."""

    __slots__ = (
        "created_after",
        "created_before",
        "page",
        "page_size",
        "sort_by",
        "sort_order",
        "source_currency",
        "statuses",
        "target_currency",
        "updated_after",
    )

    def __init__(self, params: Mapping[str, str], *, statuses: tuple[str, ...] = STATUSES) -> None:
        errors = Errors()
        self.page = _int(params.get("page"), "page", errors, 1, 1, None)
        self.page_size = _int(params.get("page_size"), "page_size", errors, 20, 1, 100)
        self.statuses: frozenset[str] | None = None
        raw = params.get("status")
        if raw is not None:
            parts = [p.strip() for p in raw.split(",") if p.strip()]
            bad = [p for p in parts if p not in statuses]
            if not parts or bad:
                errors.add("status", "must be a comma-separated list of " + ", ".join(statuses))
            else:
                self.statuses = frozenset(parts)
        self.source_currency = _enum(params.get("source_currency"), "source_currency", errors, CURRENCIES)
        self.target_currency = _enum(params.get("target_currency"), "target_currency", errors, CURRENCIES)
        self.created_after = _ts_param(params.get("created_after"), "created_after", errors)
        self.created_before = _ts_param(params.get("created_before"), "created_before", errors)
        self.updated_after = _ts_param(params.get("updated_after"), "updated_after", errors)
        self.sort_by = _enum(params.get("sort_by"), "sort_by", errors, SORT_FIELDS) or "created_at"
        self.sort_order = _enum(params.get("sort_order"), "sort_order", errors, ("asc", "desc")) or "desc"
        errors.raise_if_any()


def _int(raw: str | None, field: str, errors: Errors, default: int, lo: int, hi: int | None) -> int:
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        errors.add(field, "must be an integer")
        return default
    if v < lo or (hi is not None and v > hi):
        errors.add(field, f"must be between {lo} and {hi}" if hi is not None else f"must be at least {lo}")
        return default
    return v


def _enum(raw: str | None, field: str, errors: Errors, allowed: tuple[str, ...]) -> str | None:
    if raw is None:
        return None
    if raw not in allowed:
        errors.add(field, "must be one of " + ", ".join(allowed))
        return None
    return raw


def _ts_param(raw: str | None, field: str, errors: Errors) -> int | None:
    if raw is None:
        return None
    ms = parse_ts(raw)
    if ms is None:
        errors.add(field, "must be an ISO-8601 timestamp, e.g. 2025-03-01T00:00:00Z")
    return ms
