"""The Musubi domain objects, their wire forms, and the memory that holds them.

Objects are immutable snapshots (`dataclasses.replace` makes the next one). A change is staged
as a `Changes` (the snapshots, transitions and events of one unit of work); the store writes it,
and `Memory.apply` takes the snapshots in only after the commit (the streams unit of work), so
readers never see a state that is not in the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

import orjson

from app.clock import iso_ms
from app.engine.errors import Conflict, Forbidden, NotFound

FAMILY = "musubi"
ROLES = ("institution", "custodian", "market-maker")
STATUSES = ("PENDING", "QUOTED", "EXECUTING", "SETTLED", "FAILED", "EXPIRED")
QUOTE_STATUSES = ("PENDING", "ACCEPTED", "REJECTED", "EXPIRED")
FAILURE_REASONS = ("NO_QUOTE", "SLIPPAGE", "KYC_FAIL", "TIMEOUT", "REVERT", "CANCELLED")
CURRENCIES = ("JPYSC0", "USDCx")
# source-currency units per one target-currency unit, by (source, target)
REFERENCE_RATES = {("JPYSC0", "USDCx"): Decimal("150"), ("USDCx", "JPYSC0"): Decimal("1") / Decimal("150")}

_SIX = Decimal("0.000001")

# Ids and hashes need uniqueness, not secrecy: a PRNG seeded once avoids a getrandom() call per
# id, which releases the GIL and then queues behind the writer thread to get it back.
_RNG = random.Random(int.from_bytes(os.urandom(32), "big"))


def new_id() -> str:
    """A UUID v4."""
    return str(uuid.UUID(int=_RNG.getrandbits(128), version=4))


def new_tx_hash() -> str:
    return f"0x{_RNG.getrandbits(256):064x}"


# --- outcomes in Musubi's codes ---------------------------------------------------------------
def conflict(message: str, details: list[dict[str, Any]] | None = None) -> Conflict:
    return Conflict(message, code="CONFLICT", details=details)


def not_found(message: str) -> NotFound:
    return NotFound(message, code="NOT_FOUND")


def forbidden(message: str) -> Forbidden:
    return Forbidden(message, code="FORBIDDEN")


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


# wide enough for any product of two validated amounts (< 10^20, ≤ 8 places) to stay exact
EXACT = Context(prec=60)


def source_amount(target_amount: str, fx_rate: str) -> str:
    """`target_amount × fx_rate`, exact, then rounded half-up to 6 decimals."""
    product = EXACT.multiply(Decimal(target_amount), Decimal(fx_rate))
    return dec_str(product.quantize(_SIX, rounding=ROUND_HALF_UP, context=EXACT))


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


# --- one unit of work, staged ------------------------------------------------------------------
Ev = tuple[str, str, bytes, str]  # (stream, kind, body, ref)
TRANSITION_COLUMNS = ("intent_id", "at", "actor", "action", "from_status", "to_status", "detail")
Transition = tuple[str, int, str, str, str | None, str, str | None]  # a row, in TRANSITION_COLUMNS order


@dataclass(slots=True)
class Changes:
    """What one unit of work changes: new snapshots, transition records, idempotency answers
    and the participant events. The store writes it in one transaction; memory takes the
    snapshots only after the commit (`Memory.apply`)."""

    participants: list[Participant] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)  # the last snapshot of each order wins
    new_orders: set[str] = field(default_factory=set)
    quotes: dict[str, Quote] = field(default_factory=dict)
    new_quotes: set[str] = field(default_factory=set)
    transitions: list[Transition] = field(default_factory=list)
    idempotency: list[tuple[str, str, str, bytes, int]] = field(default_factory=list)
    events: list[Ev] = field(default_factory=list)

    def order(self, o: Order, *, new: bool = False) -> None:
        self.orders[o.intent_id] = o
        if new:
            self.new_orders.add(o.intent_id)

    def quote(self, q: Quote, *, new: bool = False) -> None:
        self.quotes[q.quote_id] = q
        if new:
            self.new_quotes.add(q.quote_id)

    def transition(
        self, o: Order, at: int, actor: str, action: str, frm: str | None, detail: Any = None
    ) -> None:
        details = None if detail is None else orjson.dumps(detail).decode()
        self.transitions.append((o.intent_id, at, actor, action, frm, o.status, details))

    def order_events(self, o: Order) -> bytes:
        """`order_updated` to every party (+ `settlement_updated` to the winning maker); the
        order's JSON bytes."""
        body = orjson.dumps(o.to_json())
        self.events.extend((p, "order_updated", body, o.intent_id) for p in o.parties)
        if o.market_maker_party_id is not None:
            settlement = orjson.dumps(o.settlement_json())
            self.events.append((o.market_maker_party_id, "settlement_updated", settlement, o.intent_id))
        return body

    def quote_mm_event(self, q: Quote, now: int) -> None:
        body = orjson.dumps(q.to_json(now, sender_side=False))
        self.events.append((q.market_maker_party_id, "quote_updated", body, q.intent_id))


# --- the live state ------------------------------------------------------------------------------
class Memory:
    """Every participant, order and quote, with the indexes the reads need.

    Changed only by `apply` (after a commit) and `replace_all` (a load from the database).
    """

    def __init__(self) -> None:
        self.participants: dict[str, Participant] = {}
        self.by_client: dict[str, Participant] = {}
        self.orders: dict[str, Order] = {}
        self.quotes: dict[str, Quote] = {}
        self.quotes_by_order: dict[str, list[str]] = {}
        self.orders_by_party: dict[str, list[str]] = {}
        self.quotes_by_mm: dict[str, list[str]] = {}
        self.won_by_mm: dict[str, list[str]] = {}
        self.idempotency: dict[tuple[str, str], bytes] = {}
        self.idem_pending: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        # the settlement network (control API) and what waits for it
        self.network_available = True
        self.waiting_network: set[str] = set()
        self.waiting_quotes: set[str] = set()

    def replace_all(self, other: Memory) -> None:
        """Take `other`'s contents (a fresh load), keeping this object (the nouns hold it)."""
        for name in (
            "participants",
            "by_client",
            "orders",
            "quotes",
            "quotes_by_order",
            "orders_by_party",
            "quotes_by_mm",
            "won_by_mm",
            "idempotency",
        ):
            setattr(self, name, getattr(other, name))

    def clear(self) -> None:
        self.replace_all(Memory())
        self.idem_pending.clear()
        self.locks.clear()
        self.network_available = True
        self.waiting_network.clear()
        self.waiting_quotes.clear()

    def lock(self, intent_id: str) -> asyncio.Lock:
        """Changes to one order are serialised: check → commit → apply under its lock."""
        lock = self.locks.get(intent_id)
        if lock is None:
            lock = self.locks[intent_id] = asyncio.Lock()
        return lock

    def market_makers(self) -> list[str]:
        return [p.party_id for p in self.participants.values() if p.role == "market-maker"]

    def apply(self, ch: Changes) -> None:
        for p in ch.participants:
            self.put_participant(p)
        for o in ch.orders.values():
            self.put_order(o)
        for q in ch.quotes.values():
            self.put_quote(q)
        for party_id, key, _intent, response, _at in ch.idempotency:
            self.idempotency[(party_id, key)] = response

    def put_participant(self, p: Participant) -> None:
        self.participants[p.party_id] = p
        self.by_client[p.client_id] = p

    def put_order(self, o: Order) -> None:
        old = self.orders.get(o.intent_id)
        self.orders[o.intent_id] = o
        if old is None:
            for p in o.parties:
                self.orders_by_party.setdefault(p, []).append(o.intent_id)
        mm = o.market_maker_party_id
        if mm is not None and (old is None or old.market_maker_party_id != mm):
            self.won_by_mm.setdefault(mm, []).append(o.intent_id)

    def put_quote(self, q: Quote) -> None:
        if q.quote_id not in self.quotes:
            self.quotes_by_order.setdefault(q.intent_id, []).append(q.quote_id)
            self.quotes_by_mm.setdefault(q.market_maker_party_id, []).append(q.quote_id)
        self.quotes[q.quote_id] = q

    def quotes_of(self, intent_id: str) -> list[Quote]:
        return [self.quotes[qid] for qid in self.quotes_by_order.get(intent_id, ())]
