"""All Musubi input validation: every bad field becomes one `details` entry naming it.

Integers are bounded with the shared `app.engine.bounds` helper: a value no field can hold is
a 400 naming the field, never a 5xx (CONTRACT §6, "Limits, every family").
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.clock import iso_ms
from app.engine import bounds
from app.engine.errors import InvalidInput
from app.engine.musubi.model import CURRENCIES, STATUSES, Order, Participant

PARTY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}::1220[0-9a-f]{64}$")
JURISDICTION_RE = re.compile(r"^[A-Z]{2}$")
_DECIMAL_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class Errors:
    """Collects `{"field","reason"}` entries; `raise_if_any()` raises one VALIDATION_ERROR."""

    def __init__(self) -> None:
        self.details: list[dict[str, str]] = []

    def add(self, field: str, reason: str) -> None:
        self.details.append({"field": field, "reason": reason})

    def raise_if_any(self) -> None:
        if self.details:
            message = "; ".join(f"{d['field']}: {d['reason']}" for d in self.details)
            raise InvalidInput(message, code="VALIDATION_ERROR", details=self.details)


def invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput.field(field, reason, code="VALIDATION_ERROR")


MAX_INT_DIGITS = 20  # amounts and rates below 10^20: a quote's product fits its column exactly


def decimal_str(value: Any, field: str, errors: Errors, *, max_places: int = 6) -> str | None:
    """A positive decimal given as a JSON string with at most `max_places` fractional digits
    and `MAX_INT_DIGITS` integer digits."""
    if value is None:
        errors.add(field, "is required")
        return None
    if not isinstance(value, str):
        errors.add(field, 'must be a decimal string, e.g. "100000"')
        return None
    if not _DECIMAL_RE.match(value) or len(value) > 40:
        errors.add(field, 'must be a decimal string of digits with an optional fraction, e.g. "112.5"')
        return None
    whole, _, fraction = value.partition(".")
    if len(fraction) > max_places:
        errors.add(field, f"must have at most {max_places} fractional digits")
        return None
    if len(whole.lstrip("0")) > MAX_INT_DIGITS:
        errors.add(field, f"must be less than 10^{MAX_INT_DIGITS}")
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
        # a page past the last is empty; past 2^63-1 it is no page at all
        self.page = _int(params.get("page"), "page", errors, 1, 1, bounds.INT64_MAX)
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


def _int(raw: str | None, field: str, errors: Errors, default: int, lo: int, hi: int) -> int:
    if raw is None:
        return default
    try:
        return bounds.int_field(raw, field, lo=lo, hi=hi)
    except InvalidInput as exc:
        errors.details.extend(exc.details)
        return default


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


# --- the SSE request ------------------------------------------------------------------------------
def stream_request(intent_id: str | None, last_event_id: str | None) -> tuple[str | None, int | None]:
    """`?intent_id=` (a UUID, lower-cased) and `Last-Event-ID` → the first seq to replay."""
    errors = Errors()
    ref = None
    if intent_id is not None:
        if is_uuid(intent_id):
            ref = intent_id.lower()
        else:
            errors.add("intent_id", "must be a UUID")
    from_seq = None
    if last_event_id is not None and last_event_id.strip():
        last = _int(last_event_id, "Last-Event-ID", errors, -1, 0, bounds.INT64_MAX - 1)
        if last >= 0:
            from_seq = last + 1
    errors.raise_if_any()
    return ref, from_seq


# --- order creation ---------------------------------------------------------------------------------
def idempotency_key(value: str | None) -> str | None:
    if value is not None and (not value or len(value) > 255):
        raise invalid("Idempotency-Key", "must be 1-255 characters")
    return value


def order_fields(body: Any, participants: Mapping[str, Participant]) -> dict[str, Any]:
    """The create body (CONTRACT §2.4) → the order's fields; named parties must have their roles."""
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    e = Errors()

    def party(name: str, role: str) -> str | None:
        pid = party_id(body.get(name), name, e)
        if pid is None:
            return None
        p = participants.get(pid)
        if p is None:
            e.add(name, "no such participant")
            return None
        if p.role != role:
            e.add(name, f"must be a participant with role {role} (this one is {p.role})")
            return None
        return pid

    out: dict[str, Any] = {}
    out["sender_custodian_party_id"] = party("sender_custodian_party_id", "custodian")
    out["intent_signature"] = string(body.get("intent_signature"), "intent_signature", e, max_len=4096)
    out["receiver_party_id"] = party("receiver_party_id", "institution")
    out["receiver_custodian_party_id"] = party("receiver_custodian_party_id", "custodian")
    out["source_contract_id"] = string(body.get("source_contract_id"), "source_contract_id", e, max_len=512)
    out["source_currency"] = currency(body.get("source_currency"), "source_currency", e)
    out["target_amount"] = decimal_str(body.get("target_amount"), "target_amount", e)
    out["target_currency"] = currency(body.get("target_currency"), "target_currency", e)
    if out["source_currency"] and out["source_currency"] == out["target_currency"]:
        e.add("target_currency", "must differ from source_currency")
    out["source_amount_max"] = decimal_str(body.get("source_amount_max"), "source_amount_max", e)
    out["kyc_aml_ref"] = uuid_str(body.get("kyc_aml_ref"), "kyc_aml_ref", e)
    out["jurisdiction_sender"] = jurisdiction(body.get("jurisdiction_sender"), "jurisdiction_sender", e)
    out["jurisdiction_receiver"] = jurisdiction(body.get("jurisdiction_receiver"), "jurisdiction_receiver", e)
    out["memo"] = string(body.get("memo"), "memo", e, max_len=1000, required=False)
    e.raise_if_any()
    return out


# --- quotes -------------------------------------------------------------------------------------------
def quote_terms(
    body: Any,
    o: Order,
    now: int,
    *,
    noun: str,
    fx_default: str | None = None,
    valid_default: int | None = None,
) -> tuple[str, int]:
    """A quote body `{fx_rate, target_amount?, valid_until}` on `o` → (fx_rate, valid_until).

    The control API's simulated maker passes defaults for what its body may leave out.
    """
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    e = Errors()
    fx: str | None = fx_default
    if body.get("fx_rate") is not None or fx_default is None:
        fx = decimal_str(body.get("fx_rate"), "fx_rate", e, max_places=8)
    ta = body.get("target_amount")
    if ta is not None:
        ta = decimal_str(ta, "target_amount", e)
        if ta is not None and Decimal(ta) != Decimal(o.target_amount):
            e.add("target_amount", f"must equal the {noun}'s target_amount {o.target_amount}")
    vu: int | None = valid_default
    if body.get("valid_until") is not None or valid_default is None:
        vu = timestamp(body.get("valid_until"), "valid_until", e)
        if vu is not None and vu <= now:
            e.add("valid_until", "must be in the future")
        elif vu is not None and vu > o.expires_at:
            e.add("valid_until", f"must not be after the {noun}'s expires_at {iso_ms(o.expires_at)}")
    e.raise_if_any()
    assert fx is not None and vu is not None
    return fx, vu


# --- exports ------------------------------------------------------------------------------------------
def export_query(params: Mapping[str, str]) -> tuple[str, int | None, int | None, set[str]]:
    """`?format=csv|json&settled_from&settled_to&status` → (format, from, to, statuses)."""
    errors = Errors()
    fmt = params.get("format", "json")
    if fmt not in ("csv", "json"):
        errors.add("format", "must be csv or json")
    lo = hi = None
    if "settled_from" in params:
        lo = parse_ts(params["settled_from"])
        if lo is None:
            errors.add("settled_from", "must be an ISO-8601 timestamp")
    if "settled_to" in params:
        hi = parse_ts(params["settled_to"])
        if hi is None:
            errors.add("settled_to", "must be an ISO-8601 timestamp")
    statuses = {"SETTLED"}
    if "status" in params:
        parts = {p.strip() for p in params["status"].split(",") if p.strip()}
        if not parts or not parts <= {"SETTLED", "FAILED", "EXPIRED"}:
            errors.add("status", "must be a comma-separated list of SETTLED, FAILED, EXPIRED")
        else:
            statuses = parts
    errors.raise_if_any()
    return fmt, lo, hi, statuses
