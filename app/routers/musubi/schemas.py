"""The Musubi contract in OpenAPI (CONTRACT §2.2-§2.5, §5): every answer in the `{"data","meta"}`
envelope (lists add `pagination`), the error document, and one declaration per operation with
a request example that succeeds against a `--seed demo` server."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from app.openapi import MUSUBI, Declarations, Errors, Op, control
from app.routers.musubi.examples import CREATE_BODY

T = TypeVar("T")


Timestamp = str
Amount = str


# --- the envelope ----------------------------------------------------------------------------------
class MusubiMeta(BaseModel):
    request_id: str = Field(examples=["req_946a246f1fcdd2b3"])
    timestamp: Timestamp = Field(examples=["2025-03-15T09:00:00.000Z"])


class MusubiPagination(BaseModel):
    page: int
    page_size: int
    total_items: int
    total_pages: int


class Single(BaseModel, Generic[T]):
    data: T
    meta: MusubiMeta


class Page(BaseModel, Generic[T]):
    data: list[T]
    meta: MusubiMeta
    pagination: MusubiPagination


class MusubiErrorDetail(BaseModel):
    field: str
    reason: str


class MusubiErrorBody(BaseModel):
    code: str = Field(
        description="VALIDATION_ERROR 400, UNAUTHORIZED 401, FORBIDDEN 403, NOT_FOUND 404, CONFLICT 409, "
        "INTERNAL_ERROR 500, CANTON_ERROR 502, SERVICE_UNAVAILABLE 503"
    )
    message: str
    details: list[MusubiErrorDetail]


class MusubiError(BaseModel):
    """`{"error": {"code", "message", "details": [{"field","reason"}]}, "meta": {...}}`"""

    error: MusubiErrorBody
    meta: MusubiMeta


# --- resources ---------------------------------------------------------------------------------------
Status = Literal["PENDING", "QUOTED", "EXECUTING", "SETTLED", "FAILED", "EXPIRED"]
QuoteStatus = Literal["PENDING", "ACCEPTED", "REJECTED", "EXPIRED"]
Currency = Literal["JPYSC0", "USDCx"]


class MusubiToken(BaseModel):
    token: str
    expires_in: int
    canton_party_id: str
    role: Literal["institution", "custodian", "market-maker"]


class MusubiWhoamiV0(BaseModel):
    canton_party_id: str
    role: str


class MusubiWhoami(BaseModel):
    party_id: str
    operator_party_id: str
    role: str
    participant_id: str
    schema_version: str


class MusubiOrder(BaseModel):
    intent_id: str
    status: Status
    sender_party_id: str
    sender_custodian_party_id: str
    receiver_party_id: str
    receiver_custodian_party_id: str
    intent_signature: str
    source_contract_id: str
    source_currency: Currency
    target_amount: Amount
    target_currency: Currency
    source_amount_max: Amount
    kyc_aml_ref: str
    jurisdiction_sender: str
    jurisdiction_receiver: str
    memo: str | None
    created_at: Timestamp
    updated_at: Timestamp
    expires_at: Timestamp
    custodian_accepted_at: Timestamp | None
    fx_rate: str | None
    source_amount_actual: Amount | None
    market_maker_party_id: str | None
    selected_quote_id: str | None
    quote_accepted_at: Timestamp | None
    transaction_hash: str | None
    settled_at: Timestamp | None
    failure_reason: str | None


class MusubiQuote(BaseModel):
    """A quote; `market_maker_party_id` only on the sender side's views."""

    quote_id: str
    intent_id: str
    market_maker_party_id: str | None = None
    fx_rate: str
    target_amount: Amount
    source_amount: Amount
    valid_until: Timestamp
    status: QuoteStatus
    created_at: Timestamp


class MusubiQuoteRequest(BaseModel):
    intent_id: str
    created_at: Timestamp
    expires_at: Timestamp
    source_currency: Currency
    target_amount: Amount
    target_currency: Currency


class MusubiSettlement(BaseModel):
    intent_id: str
    quote_id: str | None
    status: Status
    source_currency: Currency
    source_amount: Amount | None
    target_currency: Currency
    target_amount: Amount
    fx_rate: str | None
    quote_accepted_at: Timestamp | None
    transaction_hash: str | None
    settled_at: Timestamp | None
    failure_reason: str | None
    updated_at: Timestamp


class MusubiStats(BaseModel):
    total_orders: int
    counts_by_status: dict[str, int]
    settled_volume: dict[str, Amount]


class MusubiTransition(BaseModel):
    at: Timestamp
    actor: str | None
    action: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, object] | None


class MusubiCompliance(BaseModel):
    order: MusubiOrder
    transitions: list[MusubiTransition]
    quotes: list[MusubiQuote]
    operator_party_id: str


class MusubiExportRow(BaseModel):
    intent_id: str
    transaction_hash: str | None
    settled_at: Timestamp | None
    source_currency: Currency
    source_amount_actual: Amount | None
    target_currency: Currency
    target_amount: Amount
    fx_rate: str | None
    sender_party_id: str
    receiver_party_id: str
    originating_vasp_code: str
    beneficiary_vasp_code: str
    jurisdiction_sender: str
    jurisdiction_receiver: str
    status: Status
    failure_reason: str | None


class MusubiTokenAnswer(Single[MusubiToken]):
    pass


class MusubiWhoamiV0Answer(Single[MusubiWhoamiV0]):
    pass


class MusubiWhoamiAnswer(Single[MusubiWhoami]):
    pass


class MusubiOrderAnswer(Single[MusubiOrder]):
    pass


class MusubiOrderPage(Page[MusubiOrder]):
    pass


class MusubiQuoteAnswer(Single[MusubiQuote]):
    pass


class MusubiQuotePage(Page[MusubiQuote]):
    pass


class MusubiQuoteRequestAnswer(Single[MusubiQuoteRequest]):
    pass


class MusubiQuoteRequestPage(Page[MusubiQuoteRequest]):
    pass


class MusubiSettlementAnswer(Single[MusubiSettlement]):
    pass


class MusubiSettlementPage(Page[MusubiSettlement]):
    pass


class MusubiStatsAnswer(Single[MusubiStats]):
    pass


class MusubiComplianceAnswer(Single[MusubiCompliance]):
    pass


class MusubiExportAnswer(Single[list[MusubiExportRow]]):
    pass


class MusubiEventStream(BaseModel):
    """`text/event-stream`: frames `id:`, `event:`, `data:` (see /asyncapi.json)."""

    event: str = Field(description="order_updated | quote_received | heartbeat | quote_request_created | …")
    id: int | None = Field(None, description="the participant stream's sequence number (none on heartbeats)")
    data: str = Field(description="the JSON resource")


# --- control routes ---------------------------------------------------------------------------------
class MusubiParticipantCreated(BaseModel):
    client_id: str
    client_secret: str
    party_id: str
    role: str
    name: str


class MusubiParticipant(MusubiParticipantCreated):
    simulated: bool


class MusubiParticipants(BaseModel):
    participants: list[MusubiParticipant]


class MusubiNetwork(BaseModel):
    available: bool


# --- the operations --------------------------------------------------------------------------------
TAG = "musubi"
A401 = {401: ("UNAUTHORIZED",)}
BAD = {400: ("VALIDATION_ERROR",)}
ROLE = {403: ("FORBIDDEN",)}
MISSING = {404: ("NOT_FOUND",)}
WRITE = {
    409: ("CONFLICT",),
    502: ("CANTON_ERROR",),
    503: ("SERVICE_UNAVAILABLE",),
}
ORDER = "musubi-order"
ORDER_TEXT = "{intent_id}"

LIST_QUERY = {"page": "1", "page_size": "20", "sort_by": "created_at", "sort_order": "desc"}


def _op(model: type[BaseModel], text: str, errors: Errors, **kw: object) -> Op:
    merged = {**A401, **errors}
    return Op(model, text, errors=merged, security=MUSUBI, tag=TAG, **kw)  # type: ignore[arg-type]


def declarations() -> Declarations:
    inst = {"caller": "sender-institution"}
    cust = {"caller": "custodian-a"}
    mm = {"caller": "market-maker-a"}
    oid = {"intent_id": ORDER_TEXT}
    ops: dict[tuple[str, str], Op] = {
        ("POST", "/auth/token"): Op(
            MusubiTokenAnswer,
            "Exchange client credentials for a JWT (HS256, `iss` musubi, `aud` musubi-api). The body is "
            "JSON (a form with the same two fields is accepted too).",
            errors={**BAD, 401: ("UNAUTHORIZED",)},
            tag=TAG,
            body={"client_id": "sender-institution", "client_secret": "sender-institution-secret"},
        ),
        ("GET", "/whoami"): _op(MusubiWhoamiV0Answer, "Who the token speaks for (older form).", {}, **inst),
        ("GET", "/api/v1/whoami"): _op(
            MusubiWhoamiAnswer, "Who the token speaks for (schema v2).", {}, **inst
        ),
        ("POST", "/api/v1/orders"): _op(
            MusubiOrderAnswer,
            "The sender institution creates an order → `PENDING`, awaiting its custodian. The named "
            "parties must exist with the right roles. `Idempotency-Key` returns the first result again.",
            {**BAD, **ROLE, **WRITE},
            status=201,
            body=CREATE_BODY,
            **inst,
        ),
        ("GET", "/api/v1/orders"): _op(
            MusubiOrderPage,
            "The orders the caller is party to (institutions and custodians), filtered and paginated.",
            {**BAD, **ROLE},
            query=LIST_QUERY,
            **inst,
        ),
        ("GET", "/api/v1/orders/{intent_id}"): _op(
            MusubiOrderAnswer,
            "One order the caller is party to.",
            {**ROLE, **MISSING},
            path=oid,
            requires=ORDER,
            **inst,
        ),
        ("POST", "/api/v1/orders/{intent_id}/accept"): _op(
            MusubiOrderAnswer,
            "The sender custodian accepts the proposal: the RFQ opens to market makers.",
            {**ROLE, **MISSING, **WRITE},
            path=oid,
            requires=ORDER,
            **cust,
        ),
        ("POST", "/api/v1/orders/{intent_id}/reject"): _op(
            MusubiOrderAnswer,
            "The sender custodian rejects the proposal → `FAILED` (`KYC_FAIL`).",
            {**ROLE, **MISSING, **WRITE},
            path=oid,
            requires=ORDER,
            **cust,
        ),
        ("POST", "/api/v1/orders/{intent_id}/cancel"): _op(
            MusubiOrderAnswer,
            "The sender institution cancels a `PENDING` or `QUOTED` order → `FAILED` (`CANCELLED`).",
            {**ROLE, **MISSING, **WRITE},
            path=oid,
            requires=ORDER,
            **inst,
        ),
        ("GET", "/api/v1/orders/{intent_id}/quotes"): _op(
            MusubiQuotePage,
            "The competing quotes on an order (sender side; the receiver side sees none).",
            {**ROLE, **MISSING},
            path=oid,
            requires=ORDER,
            **inst,
        ),
        ("POST", "/api/v1/orders/{intent_id}/quotes/{quote_id}/accept"): _op(
            MusubiOrderAnswer,
            "Select (sender institution) or co-sign (sender custodian) a quote. A different quote after "
            "one is selected, an expired quote, a quote over `source_amount_max` or an order not "
            "`PENDING`/`QUOTED` → 409.",
            {**ROLE, **MISSING, **WRITE},
            path={"intent_id": ORDER_TEXT, "quote_id": "{quote_id}"},
            requires="musubi-quote",
            **inst,
        ),
        ("GET", "/api/v1/orders/events"): _op(
            MusubiEventStream,
            "Server-sent events for institutions and custodians: `order_updated`, `quote_received`, "
            "`heartbeat`. Resume with `Last-Event-ID`; `?intent_id=` filters; the token may be given "
            "as `?access_token=`. Described in /asyncapi.json.",
            {**BAD, **ROLE},
            media="text/event-stream",
            **inst,
        ),
        ("GET", "/api/v1/events"): _op(
            MusubiEventStream,
            "Server-sent events for market makers: `quote_request_created`, `quote_updated`, "
            "`settlement_updated`, `heartbeat`. Described in /asyncapi.json.",
            {**BAD, **ROLE},
            media="text/event-stream",
            **mm,
        ),
        ("GET", "/api/v1/dashboard/stats"): _op(
            MusubiStatsAnswer,
            "Order counts by status and settled volume per currency, over the caller's orders.",
            {},
            **inst,
        ),
        ("GET", "/api/v1/compliance/orders/{intent_id}"): _op(
            MusubiComplianceAnswer,
            "The order with every transition, its time and actor, and its quotes.",
            {**ROLE, **MISSING},
            path=oid,
            requires=ORDER,
            **inst,
        ),
        ("GET", "/api/v1/exports/settlements"): _op(
            MusubiExportAnswer,
            "Settlements export: `?format=csv|json&settled_from&settled_to&status` (SETTLED, FAILED, "
            "EXPIRED). CSV answers `text/csv` with the same columns.",
            {**BAD, **ROLE},
            query={"format": "json"},
            alt_media={"text/csv": "the same rows as CSV, header line first"},
            **inst,
        ),
        ("GET", "/api/v1/quote-requests"): _op(
            MusubiQuoteRequestPage,
            "Open, anonymised quote requests (market makers).",
            {**BAD, **ROLE},
            query=LIST_QUERY,
            **mm,
        ),
        ("GET", "/api/v1/quote-requests/{intent_id}"): _op(
            MusubiQuoteRequestAnswer,
            "One open quote request.",
            {**ROLE, **MISSING},
            path=oid,
            requires="musubi-rfq",
            **mm,
        ),
        ("POST", "/api/v1/quote-requests/{intent_id}/quotes"): _op(
            MusubiQuoteAnswer,
            "Submit a quote `{fx_rate, target_amount?, valid_until}`: `valid_until` in the future and "
            "before the RFQ's `expires_at`; `target_amount`, if given, equal to the RFQ's.",
            {**BAD, **ROLE, **MISSING, **WRITE},
            status=201,
            path=oid,
            body={"fx_rate": "150.25", "target_amount": "100000", "valid_until": "{valid_until}"},
            requires="musubi-rfq",
            **mm,
        ),
        ("GET", "/api/v1/quote-requests/{intent_id}/quotes"): _op(
            MusubiQuotePage,
            "The caller's own quotes on one quote request.",
            {**BAD, **ROLE, **MISSING},
            path=oid,
            requires="musubi-rfq",
            **mm,
        ),
        ("GET", "/api/v1/quotes"): _op(
            MusubiQuotePage,
            "The caller's own quotes, `?status=` filter.",
            {**BAD, **ROLE},
            query={"status": "PENDING,ACCEPTED"},
            **mm,
        ),
        ("GET", "/api/v1/settlements"): _op(
            MusubiSettlementPage,
            "The caller's won settlements (no counterparty identities).",
            {**BAD, **ROLE},
            query=LIST_QUERY,
            **mm,
        ),
        ("GET", "/api/v1/settlements/{intent_id}"): _op(
            MusubiSettlementAnswer,
            "One won settlement.",
            {**ROLE, **MISSING},
            path=oid,
            requires="musubi-settlement",
            **mm,
        ),
        # control routes
        ("POST", "/_admin/musubi/participants"): control(
            MusubiParticipantCreated,
            "Create a participant `{name, role}` → its credentials.",
            {400: ("INVALID_REQUEST", "VALIDATION_ERROR"), 503: ("SERVICE_UNAVAILABLE",)},
            status=201,
            body={"name": "ExampleInstitution", "role": "institution"},
        ),
        ("GET", "/_admin/musubi/participants"): control(
            MusubiParticipants, "Every participant with its credentials.", {}
        ),
        ("POST", "/_admin/musubi/network"): control(
            MusubiNetwork,
            'Mark the settlement network up or down `{"available": bool}`; down makes mutating routes '
            "answer 502 `CANTON_ERROR` and fails `EXECUTING` orders (`REVERT`).",
            {400: ("INVALID_REQUEST", "VALIDATION_ERROR"), 503: ("SERVICE_UNAVAILABLE",)},
            body={"available": True},
        ),
        ("GET", "/_admin/musubi/network"): control(MusubiNetwork, "Is the settlement network up?", {}),
        ("POST", "/_admin/musubi/orders/{intent_id}/quotes"): control(
            MusubiQuote,
            "Make the built-in simulated market maker quote now `{fx_rate?, target_amount?, valid_until?}`.",
            {
                400: ("INVALID_REQUEST", "VALIDATION_ERROR"),
                404: ("NOT_FOUND",),
                409: ("CONFLICT",),
                503: ("SERVICE_UNAVAILABLE",),
            },
            status=201,
            path=oid,
            body={},
            requires="musubi-rfq",
        ),
    }
    return Declarations(
        error=MusubiError,
        ops=ops,
        response_headers={"X-Request-ID": "the answer's `meta.request_id`, on success and error alike"},
    )
