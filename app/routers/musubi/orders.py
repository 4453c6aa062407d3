"""Musubi institution and custodian routes (CONTRACT §2.3): orders, their quotes, stats, the
compliance record and the settlements export.

Every route authenticates first (401), checks the role next (403, before any lookup), then
answers from the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app.engine.musubi import validate as v
from app.engine.musubi.model import Order, Participant
from app.engine.musubi.queries import export_csv
from app.engine.musubi.service import Musubi
from app.routers.musubi.deps import (
    ANYONE,
    CUSTODIAN,
    INSTITUTION,
    PARTIES,
    STR,
    acting,
    body_doc,
    caller,
    envelope,
    intent,
    json_body,
    list_doc,
    page_envelope,
    secure,
    service,
)
from app.routers.musubi.examples import CREATE_BODY

INTENT_ID_PARAM = {
    "in": "path",
    "name": "intent_id",
    "required": True,
    "schema": {"title": "Intent Id", "type": "string"},
}

router = APIRouter(tags=["musubi"])

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
_CREATE_DOC = body_doc(list(_CREATE_FIELDS[:-1]), {f: STR for f in _CREATE_FIELDS}, CREATE_BODY)
_CREATE_DOC["parameters"] = [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": STR}]


@router.post(
    "/api/v1/orders",
    status_code=201,
    summary="Create an order (sender institution) → PENDING",
    openapi_extra=_CREATE_DOC,
)
async def create_order(request: Request) -> Response:
    p, svc = acting(request, INSTITUTION)
    body = await json_body(request, obj=False)
    data = await svc.orders.create(p, body, request.headers.get("idempotency-key"))
    return envelope(request, data, 201)


@router.get("/api/v1/orders", summary="List the orders the caller is party to", openapi_extra=list_doc())
async def list_orders(request: Request) -> Response:
    p = caller(request, PARTIES)
    q = v.ListQuery(request.query_params)
    items, total = service(request).queries.list_orders(p, q)
    return page_envelope(request, [o.to_json() for o in items], total, q.page, q.page_size)


@router.get(
    "/api/v1/orders/{intent_id}",
    summary="One order",
    # the hot read takes its id from the matched path itself (no parameter for FastAPI to solve
    # on every request); the document declares it exactly as a signature parameter would
    openapi_extra={"parameters": [INTENT_ID_PARAM]},
)
async def get_order(request: Request) -> Response:
    p = caller(request, PARTIES)
    iid = intent(request.path_params["intent_id"])
    return envelope(request, service(request).queries.order_for(p, iid).to_json())


def _decision(
    roles: frozenset[str], decide: Callable[[Musubi], Callable[[Participant, str], Awaitable[Order]]]
) -> Callable[[Request, str], Awaitable[Response]]:
    """A route that moves one order by the caller's decision and answers the order."""

    async def decision(request: Request, intent_id: str) -> Response:
        p, svc = acting(request, roles)
        return envelope(request, (await decide(svc)(p, intent(intent_id))).to_json())

    return decision


for _verb, _name, _roles, _decide, _summary in (
    (
        "accept",
        "accept_proposal",
        CUSTODIAN,
        lambda svc: svc.orders.accept_proposal,
        "Sender custodian accepts the proposal: the RFQ opens",
    ),
    (
        "reject",
        "reject_proposal",
        CUSTODIAN,
        lambda svc: svc.orders.reject_proposal,
        "Sender custodian rejects the proposal → FAILED (KYC_FAIL)",
    ),
    (
        "cancel",
        "cancel_order",
        INSTITUTION,
        lambda svc: svc.orders.cancel,
        "Sender institution cancels a PENDING/QUOTED order → FAILED (CANCELLED)",
    ),
):
    router.add_api_route(
        f"/api/v1/orders/{{intent_id}}/{_verb}",
        _decision(_roles, _decide),
        methods=["POST"],
        name=_name,
        summary=_summary,
    )


@router.get("/api/v1/orders/{intent_id}/quotes", summary="Competing quotes (sender side)")
async def order_quotes(request: Request, intent_id: str) -> Response:
    p = caller(request, PARTIES)
    items = service(request).queries.quotes_for(p, intent(intent_id))
    return page_envelope(request, items, len(items), 1, max(len(items), 1))


@router.post(
    "/api/v1/orders/{intent_id}/quotes/{quote_id}/accept",
    summary="Select (sender institution) or co-sign (sender custodian) a quote",
)
async def accept_quote(request: Request, intent_id: str, quote_id: str) -> Response:
    p, svc = acting(request, PARTIES)
    return envelope(
        request, (await svc.orders.accept_quote(p, intent(intent_id), intent(quote_id))).to_json()
    )


@router.get("/api/v1/dashboard/stats", summary="Counts by status and settled volume per currency")
async def dashboard_stats(request: Request) -> Response:
    p = caller(request, ANYONE)
    return envelope(request, service(request).queries.stats(p))


@router.get(
    "/api/v1/compliance/orders/{intent_id}",
    summary="The order with every transition, its time and actor",
)
async def compliance(request: Request, intent_id: str) -> Response:
    p = caller(request, PARTIES)
    return envelope(request, await service(request).queries.compliance(p, intent(intent_id)))


@router.get(
    "/api/v1/exports/settlements",
    summary="Settlements export: ?format=csv|json&settled_from&settled_to&status",
)
async def export_settlements(request: Request) -> Response:
    p = caller(request, PARTIES)
    svc = service(request)
    fmt, rows = svc.queries.export(p, request.query_params)
    if fmt == "csv":
        return Response(
            export_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="settlements.csv"'},
        )
    return envelope(request, rows)


secure(router)
