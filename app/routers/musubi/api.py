"""Musubi REST routes (CONTRACT §2.1-§2.3): auth, institution/custodian and market-maker APIs.

Every route authenticates first (401), checks the role next (403, before any lookup), then
answers from the service. Answers are built with orjson into plain responses.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.requests import Request
from starlette.responses import Response

from app.engine.musubi import validate as v
from app.engine.musubi.model import OPERATOR_PARTY_ID, QUOTE_STATUSES
from app.routers.musubi.common import (
    ANYONE,
    CUSTODIAN,
    INSTITUTION,
    MARKET_MAKER,
    PARTIES,
    caller,
    envelope,
    intent,
    json_body,
    page_envelope,
    service,
)

# The bearer scheme is declared for /docs ("Authorize") through one cold route's dependency;
# every other route only references it (a per-request dependency costs real time on hot
# paths). `caller()` does the real checking everywhere.
SECURITY: dict[str, Any] = {"security": [{"musubiBearer": []}]}
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="musubiBearer",
    description="JWT from POST /auth/token (HS256, iss musubi, aud musubi-api)",
)
public = APIRouter(tags=["musubi"])


def _body_doc(required: list[str], props: dict[str, object], example: dict[str, object]) -> dict[str, object]:
    schema = {"type": "object", "required": required, "properties": props}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


def _list_doc(*extra: str) -> dict[str, object]:
    names = (
        "page",
        "page_size",
        "status",
        "source_currency",
        "target_currency",
        "created_after",
        "created_before",
        "updated_after",
        "sort_by",
        "sort_order",
        *extra,
    )
    return {
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names
        ]
    }


_STR = {"type": "string"}
_TOKEN_DOC = _body_doc(
    ["client_id", "client_secret"],
    {"client_id": _STR, "client_secret": _STR},
    {"client_id": "sender-institution", "client_secret": "sender-institution-secret"},
)
_CREATE_FIELDS = (
    "sender_custodian_party_id",
    "intent_signature",
    "receiver_party_id",
    "receiver_custodian_party_id",
    "source_contract_id",
    "source_currency",
    "target_amount",
    "target_currency",
    "source_amount_max",
    "kyc_aml_ref",
    "jurisdiction_sender",
    "jurisdiction_receiver",
    "memo",
)
_CREATE_DOC = _body_doc(
    list(_CREATE_FIELDS[:-1]),
    {f: _STR for f in _CREATE_FIELDS},
    {
        "sender_custodian_party_id": "CustodianA::1220…",
        "intent_signature": "3045022100ab",
        "receiver_party_id": "ReceiverInstitution::1220…",
        "receiver_custodian_party_id": "CustodianB::1220…",
        "source_contract_id": "00a3f7c21d83#0",
        "source_currency": "JPYSC0",
        "target_amount": "100000",
        "target_currency": "USDCx",
        "source_amount_max": "15500000",
        "kyc_aml_ref": "5b6a2351-440c-4f33-98f0-81e42bcd277b",
        "jurisdiction_sender": "JP",
        "jurisdiction_receiver": "KR",
        "memo": "invoice 42",
    },
)
_CREATE_DOC["parameters"] = [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": _STR}]
_QUOTE_DOC = _body_doc(
    ["fx_rate", "valid_until"],
    {"fx_rate": _STR, "target_amount": _STR, "valid_until": {"type": "string", "format": "date-time"}},
    {"fx_rate": "150.25", "target_amount": "100000", "valid_until": "2025-03-15T09:00:41.000Z"},
)
router = APIRouter(tags=["musubi"])


# --- auth ------------------------------------------------------------------------------------------
@public.post("/auth/token", summary="Exchange client credentials for a JWT (HS256)", openapi_extra=_TOKEN_DOC)
async def token(request: Request) -> Response:
    body: Any
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        # OAuth-style clients post the same two fields as a form
        body = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    else:
        body = await json_body(request)
    if not isinstance(body, dict):
        raise v.invalid("body", "must be a JSON object {client_id, client_secret}")
    tok, ttl, p = service(request).issue_token(body.get("client_id"), body.get("client_secret"))
    request.scope.setdefault("state", {})["caller"] = p.party_id
    return envelope(request, {"token": tok, "expires_in": ttl, "canton_party_id": p.party_id, "role": p.role})


@router.get("/whoami", summary="Who the token speaks for (older form)", dependencies=[Depends(BEARER)])
async def whoami_v0(request: Request) -> Response:
    p = caller(request, ANYONE)
    return envelope(request, {"canton_party_id": p.party_id, "role": p.role})


@router.get("/api/v1/whoami", summary="Who the token speaks for (schema v2)")
async def whoami(request: Request) -> Response:
    p = caller(request, ANYONE)
    return envelope(
        request,
        {
            "party_id": p.party_id,
            "operator_party_id": OPERATOR_PARTY_ID,
            "role": p.role,
            "participant_id": "",
            "schema_version": "v2",
        },
    )


# --- institution and custodian -----------------------------------------------------------------
@router.post(
    "/api/v1/orders",
    status_code=201,
    summary="Create an order (sender institution) → PENDING",
    openapi_extra=_CREATE_DOC,
)
async def create_order(request: Request) -> Response:
    p = caller(request, INSTITUTION)
    svc = service(request)
    svc.require_network()
    body = await json_body(request)
    data = await svc.create_order(p, body, request.headers.get("idempotency-key"))
    return envelope(request, data, 201)


@router.get("/api/v1/orders", summary="List the orders the caller is party to", openapi_extra=_list_doc())
async def list_orders(request: Request) -> Response:
    p = caller(request, PARTIES)
    q = v.ListQuery(request.query_params)
    items, total = service(request).list_orders(p, q)
    return page_envelope(request, [o.to_json() for o in items], total, q.page, q.page_size)


@router.get("/api/v1/orders/{intent_id}", summary="One order")
async def get_order(request: Request, intent_id: str) -> Response:
    p = caller(request, PARTIES)
    return envelope(request, service(request).order_for(p, intent(intent_id)).to_json())


@router.post(
    "/api/v1/orders/{intent_id}/accept",
    summary="Sender custodian accepts the proposal: the RFQ opens",
)
async def accept_proposal(request: Request, intent_id: str) -> Response:
    p = caller(request, CUSTODIAN)
    svc = service(request)
    svc.require_network()
    return envelope(request, (await svc.accept_proposal(p, intent(intent_id))).to_json())


@router.post(
    "/api/v1/orders/{intent_id}/reject",
    summary="Sender custodian rejects the proposal → FAILED (KYC_FAIL)",
)
async def reject_proposal(request: Request, intent_id: str) -> Response:
    p = caller(request, CUSTODIAN)
    svc = service(request)
    svc.require_network()
    return envelope(request, (await svc.reject_proposal(p, intent(intent_id))).to_json())


@router.post(
    "/api/v1/orders/{intent_id}/cancel",
    summary="Sender institution cancels a PENDING/QUOTED order → FAILED (CANCELLED)",
)
async def cancel_order(request: Request, intent_id: str) -> Response:
    p = caller(request, INSTITUTION)
    svc = service(request)
    svc.require_network()
    return envelope(request, (await svc.cancel(p, intent(intent_id))).to_json())


@router.get("/api/v1/orders/{intent_id}/quotes", summary="Competing quotes (sender side)")
async def order_quotes(request: Request, intent_id: str) -> Response:
    p = caller(request, PARTIES)
    items = service(request).quotes_for(p, intent(intent_id))
    return page_envelope(request, items, len(items), 1, max(len(items), 1))


@router.post(
    "/api/v1/orders/{intent_id}/quotes/{quote_id}/accept",
    summary="Select (sender institution) or co-sign (sender custodian) a quote",
)
async def accept_quote(request: Request, intent_id: str, quote_id: str) -> Response:
    p = caller(request, PARTIES)
    svc = service(request)
    svc.require_network()
    return envelope(request, (await svc.accept_quote(p, intent(intent_id), intent(quote_id))).to_json())


@router.get("/api/v1/dashboard/stats", summary="Counts by status and settled volume per currency")
async def dashboard_stats(request: Request) -> Response:
    p = caller(request, ANYONE)
    return envelope(request, service(request).stats(p))


@router.get(
    "/api/v1/compliance/orders/{intent_id}",
    summary="The order with every transition, its time and actor",
)
async def compliance(request: Request, intent_id: str) -> Response:
    p = caller(request, PARTIES)
    return envelope(request, await service(request).compliance(p, intent(intent_id)))


@router.get(
    "/api/v1/exports/settlements",
    summary="Settlements export: ?format=csv|json&settled_from&settled_to&status",
)
async def export_settlements(request: Request) -> Response:
    p = caller(request, PARTIES)
    svc = service(request)
    fmt, rows = svc.export(p, dict(request.query_params))
    if fmt == "csv":
        return Response(
            svc.export_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="settlements.csv"'},
        )
    return envelope(request, rows)


# --- market makers -----------------------------------------------------------------------------
@router.get("/api/v1/quote-requests", summary="Open, anonymised quote requests", openapi_extra=_list_doc())
async def quote_requests(request: Request) -> Response:
    caller(request, MARKET_MAKER)
    q = v.ListQuery(request.query_params)
    items, total = service(request).list_rfqs(q)
    return page_envelope(request, [o.rfq_json() for o in items], total, q.page, q.page_size)


@router.get("/api/v1/quote-requests/{intent_id}", summary="One quote request")
async def quote_request(request: Request, intent_id: str) -> Response:
    p = caller(request, MARKET_MAKER)
    return envelope(request, service(request).rfq_for(p, intent(intent_id)).rfq_json())


@router.post(
    "/api/v1/quote-requests/{intent_id}/quotes",
    status_code=201,
    summary="Submit a quote {fx_rate, target_amount?, valid_until}",
    openapi_extra=_QUOTE_DOC,
)
async def submit_quote(request: Request, intent_id: str) -> Response:
    p = caller(request, MARKET_MAKER)
    svc = service(request)
    svc.require_network()
    body = await json_body(request)
    q = await svc.submit_quote(p, intent(intent_id), body)
    return envelope(request, q.to_json(svc.clock.now_ms(), sender_side=False), 201)


@router.get(
    "/api/v1/quote-requests/{intent_id}/quotes",
    summary="Your quotes on one quote request",
)
async def own_rfq_quotes(request: Request, intent_id: str) -> Response:
    p = caller(request, MARKET_MAKER)
    svc = service(request)
    iid = intent(intent_id)
    svc.rfq_for(p, iid)
    q = v.ListQuery(request.query_params, statuses=QUOTE_STATUSES)
    items, total = svc.mm_quotes(p, q, iid)
    return page_envelope(request, items, total, q.page, q.page_size)


@router.get("/api/v1/quotes", summary="Your quotes, ?status= filter", openapi_extra=_list_doc())
async def own_quotes(request: Request) -> Response:
    p = caller(request, MARKET_MAKER)
    q = v.ListQuery(request.query_params, statuses=QUOTE_STATUSES)
    items, total = service(request).mm_quotes(p, q)
    return page_envelope(request, items, total, q.page, q.page_size)


@router.get("/api/v1/settlements", summary="Your won settlements", openapi_extra=_list_doc())
async def settlements(request: Request) -> Response:
    p = caller(request, MARKET_MAKER)
    q = v.ListQuery(request.query_params)
    items, total = service(request).settlements(p, q)
    return page_envelope(request, [o.settlement_json() for o in items], total, q.page, q.page_size)


@router.get("/api/v1/settlements/{intent_id}", summary="One won settlement")
async def settlement(request: Request, intent_id: str) -> Response:
    p = caller(request, MARKET_MAKER)
    return envelope(request, service(request).settlement(p, intent(intent_id)).settlement_json())


for _route in router.routes:
    if isinstance(_route, APIRoute):
        _route.openapi_extra = {**(_route.openapi_extra or {}), **SECURITY}
