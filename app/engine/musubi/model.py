"""The Musubi domain objects and their wire forms.

Objects are immutable snapshots (`dataclasses.replace` makes the next one): the service swaps a
new snapshot in only after its rows and events have committed, so readers never see a state
that is not in the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.clock import iso_ms

FAMILY = "musubi"
ROLES = ("institution", "custodian", "market-maker")
STATUSES = ("PENDING", "QUOTED", "EXECUTING", "SETTLED", "FAILED", "EXPIRED")
QUOTE_STATUSES = ("PENDING", "ACCEPTED", "REJECTED", "EXPIRED")
FAILURE_REASONS = ("NO_QUOTE", "SLIPPAGE", "KYC_FAIL", "TIMEOUT", "REVERT", "CANCELLED")
CURRENCIES = ("JPYSC0", "USDCx")
TERMINAL = frozenset({"SETTLED", "FAILED", "EXPIRED"})
# source-currency units per one target-currency unit, by (source, target)
REFERENCE_RATES = {("JPYSC0", "USDCx"): Decimal("150"), ("USDCx", "JPYSC0"): Decimal("1") / Decimal("150")}

_SIX = Decimal("0.000001")


def party_fingerprint(seed: str) -> str:
    """A Canton-style fingerprint: `1220` + 64 hex (a multihash of SHA-256)."""
    return "1220" + hashlib.sha256(seed.encode()).hexdigest()


OPERATOR_PARTY_ID = "Musubi::" + party_fingerprint("refserver-operator")


def dec_str(d: Decimal) -> str:
    """A decimal as a plain string without exponent or trailing zeros ("150", "0.0066667")."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def source_amount(target_amount: str, fx_rate: str) -> str:
    """`target_amount × fx_rate`, rounded half-up to 6 decimals."""
    return dec_str((Decimal(target_amount) * Decimal(fx_rate)).quantize(_SIX, rounding=ROUND_HALF_UP))


_ISO: dict[int, str] = {}


def iso(ms: int) -> str:
    """`iso_ms`, memoised: an order's timestamps are formatted on every read and event."""
    s = _ISO.get(ms)
    if s is None:
        if len(_ISO) >= 100_000:
            _ISO.clear()
        s = _ISO[ms] = iso_ms(ms)
    return s


def _ts(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)


@dataclass(frozen=True, slots=True)
class Participant:
    party_id: str
    name: str
    role: str
    client_id: str
    client_secret: str
    simulated: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class Order:
    intent_id: str
    status: str
    sender_party_id: str
    sender_custodian_party_id: str
    receiver_party_id: str
    receiver_custodian_party_id: str
    intent_signature: str
    source_contract_id: str
    source_currency: str
    target_amount: str
    target_currency: str
    source_amount_max: str
    kyc_aml_ref: str
    jurisdiction_sender: str
    jurisdiction_receiver: str
    memo: str | None
    created_at: int
    updated_at: int
    expires_at: int
    custodian_accepted_at: int | None = None
    fx_rate: str | None = None
    source_amount_actual: str | None = None
    market_maker_party_id: str | None = None
    selected_quote_id: str | None = None
    quote_accepted_at: int | None = None
    executing_at: int | None = None
    transaction_hash: str | None = None
    settled_at: int | None = None
    failure_reason: str | None = None

    @property
    def parties(self) -> tuple[str, ...]:
        """The distinct parties of the order (one stream each)."""
        seen: list[str] = []
        for p in (
            self.sender_party_id,
            self.sender_custodian_party_id,
            self.receiver_party_id,
            self.receiver_custodian_party_id,
        ):
            if p not in seen:
                seen.append(p)
        return tuple(seen)

    @property
    def sender_side(self) -> tuple[str, str]:
        return (self.sender_party_id, self.sender_custodian_party_id)

    @property
    def rfq_open(self) -> bool:
        return self.status == "PENDING" and self.custodian_accepted_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "intent_id": self.intent_id,
            "status": self.status,
            "sender_party_id": self.sender_party_id,
            "sender_custodian_party_id": self.sender_custodian_party_id,
            "receiver_party_id": self.receiver_party_id,
            "receiver_custodian_party_id": self.receiver_custodian_party_id,
            "intent_signature": self.intent_signature,
            "source_contract_id": self.source_contract_id,
            "source_currency": self.source_currency,
            "target_amount": self.target_amount,
            "target_currency": self.target_currency,
            "source_amount_max": self.source_amount_max,
            "kyc_aml_ref": self.kyc_aml_ref,
            "jurisdiction_sender": self.jurisdiction_sender,
            "jurisdiction_receiver": self.jurisdiction_receiver,
            "memo": self.memo,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
            "custodian_accepted_at": _ts(self.custodian_accepted_at),
            "fx_rate": self.fx_rate,
            "source_amount_actual": self.source_amount_actual,
            "market_maker_party_id": self.market_maker_party_id,
            "selected_quote_id": self.selected_quote_id,
            "quote_accepted_at": _ts(self.quote_accepted_at),
            "transaction_hash": self.transaction_hash,
            "settled_at": _ts(self.settled_at),
            "failure_reason": self.failure_reason,
        }

    def rfq_json(self) -> dict[str, Any]:
        """The anonymised quote request a market maker sees."""
        return {
            "intent_id": self.intent_id,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "source_currency": self.source_currency,
            "target_amount": self.target_amount,
            "target_currency": self.target_currency,
        }

    def settlement_json(self) -> dict[str, Any]:
        """The winning market maker's view of its settlement (no counterparty identities)."""
        return {
            "intent_id": self.intent_id,
            "quote_id": self.selected_quote_id,
            "status": self.status,
            "source_currency": self.source_currency,
            "source_amount": self.source_amount_actual,
            "target_currency": self.target_currency,
            "target_amount": self.target_amount,
            "fx_rate": self.fx_rate,
            "quote_accepted_at": _ts(self.quote_accepted_at),
            "transaction_hash": self.transaction_hash,
            "settled_at": _ts(self.settled_at),
            "failure_reason": self.failure_reason,
            "updated_at": iso(self.updated_at),
        }

    def export_row(self) -> dict[str, Any]:
        """One row of the settlements export (reference §1.9 columns)."""
        return {
            "intent_id": self.intent_id,
            "transaction_hash": self.transaction_hash,
            "settled_at": _ts(self.settled_at),
            "source_currency": self.source_currency,
            "source_amount_actual": self.source_amount_actual,
            "target_currency": self.target_currency,
            "target_amount": self.target_amount,
            "fx_rate": self.fx_rate,
            "sender_party_id": self.sender_party_id,
            "receiver_party_id": self.receiver_party_id,
            "originating_vasp_code": self.sender_custodian_party_id,
            "beneficiary_vasp_code": self.receiver_custodian_party_id,
            "jurisdiction_sender": self.jurisdiction_sender,
            "jurisdiction_receiver": self.jurisdiction_receiver,
            "status": self.status,
            "failure_reason": self.failure_reason,
        }


EXPORT_COLUMNS = (
    "intent_id",
    "transaction_hash",
    "settled_at",
    "source_currency",
    "source_amount_actual",
    "target_currency",
    "target_amount",
    "fx_rate",
    "sender_party_id",
    "receiver_party_id",
    "originating_vasp_code",
    "beneficiary_vasp_code",
    "jurisdiction_sender",
    "jurisdiction_receiver",
    "status",
    "failure_reason",
)

ORDER_COLUMNS = tuple(Order.__dataclass_fields__)
MUTABLE_ORDER_COLUMNS = (
    "status",
    "updated_at",
    "custodian_accepted_at",
    "fx_rate",
    "source_amount_actual",
    "market_maker_party_id",
    "selected_quote_id",
    "quote_accepted_at",
    "executing_at",
    "transaction_hash",
    "settled_at",
    "failure_reason",
)


@dataclass(frozen=True, slots=True)
class Quote:
    quote_id: str
    intent_id: str
    market_maker_party_id: str
    fx_rate: str
    target_amount: str
    source_amount: str
    valid_until: int
    status: str
    created_at: int
    updated_at: int

    def shown_status(self, now_ms: int) -> str:
        """A pending quote whose `valid_until` has passed reads as EXPIRED."""
        if self.status == "PENDING" and self.valid_until <= now_ms:
            return "EXPIRED"
        return self.status

    def to_json(self, now_ms: int, *, sender_side: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"quote_id": self.quote_id, "intent_id": self.intent_id}
        if sender_side:
            out["market_maker_party_id"] = self.market_maker_party_id
        out.update(
            fx_rate=self.fx_rate,
            target_amount=self.target_amount,
            source_amount=self.source_amount,
            valid_until=iso(self.valid_until),
            status=self.shown_status(now_ms),
            created_at=iso(self.created_at),
        )
        return out


QUOTE_COLUMNS = tuple(Quote.__dataclass_fields__)
