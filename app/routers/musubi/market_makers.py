"""Musubi market-maker routes (CONTRACT §2.3): open RFQs, quoting, own quotes, won settlements.

A market maker never sees sender or receiver identities, other makers' quotes, or how many
makers compete.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app.engine.musubi import validate as v
from app.engine.musubi.model import QUOTE_STATUSES
from app.routers.musubi import deps as d

router = APIRouter(tags=["musubi"])

_QUOTE_DOC = d.body_doc(
    ["fx_rate", "valid_until"],
    {"fx_rate": d.STR, "target_amount": d.STR, "valid_until": {"type": "string", "format": "date-time"}},
    {"fx_rate": "150.25", "target_amount": "100000", "valid_until": "2025-03-15T09:00:41.000Z"},
)


@router.get("/api/v1/quote-requests", summary="Open, anonymised quote requests", openapi_extra=d.list_doc())
async def quote_requests(request: Request) -> Response:
    d.caller(request, d.MARKET_MAKER)
    q = v.ListQuery(request.query_params)
    items, total = d.service(request).queries.list_rfqs(q)
    return d.page_envelope(request, [o.rfq_json() for o in items], total, q.page, q.page_size)


@router.get("/api/v1/quote-requests/{intent_id}", summary="One quote request")
async def quote_request(request: Request, intent_id: str) -> Response:
    p = d.caller(request, d.MARKET_MAKER)
    return d.envelope(request, d.service(request).queries.rfq_for(p, d.intent(intent_id)).rfq_json())


@router.post(
    "/api/v1/quote-requests/{intent_id}/quotes",
    status_code=201,
    summary="Submit a quote {fx_rate, target_amount?, valid_until}",
    openapi_extra=_QUOTE_DOC,
)
async def submit_quote(request: Request, intent_id: str) -> Response:
    p, svc = d.acting(request, d.MARKET_MAKER)
    body = await d.json_body(request, obj=False)
    q = await svc.quotes.submit(p, d.intent(intent_id), body)
    return d.envelope(request, q.to_json(svc.clock.now_ms(), sender_side=False), 201)


@router.get(
    "/api/v1/quote-requests/{intent_id}/quotes",
    summary="Your quotes on one quote request",
)
async def own_rfq_quotes(request: Request, intent_id: str) -> Response:
    p = d.caller(request, d.MARKET_MAKER)
    svc = d.service(request)
    iid = d.intent(intent_id)
    svc.queries.rfq_for(p, iid)
    q = v.ListQuery(request.query_params, statuses=QUOTE_STATUSES)
    items, total = svc.queries.mm_quotes(p, q, iid)
    return d.page_envelope(request, items, total, q.page, q.page_size)


@router.get("/api/v1/quotes", summary="Your quotes, ?status= filter", openapi_extra=d.list_doc())
async def own_quotes(request: Request) -> Response:
    p = d.caller(request, d.MARKET_MAKER)
    q = v.ListQuery(request.query_params, statuses=QUOTE_STATUSES)
    items, total = d.service(request).queries.mm_quotes(p, q)
    return d.page_envelope(request, items, total, q.page, q.page_size)


@router.get("/api/v1/settlements", summary="Your won settlements", openapi_extra=d.list_doc())
async def settlements(request: Request) -> Response:
    p = d.caller(request, d.MARKET_MAKER)
    q = v.ListQuery(request.query_params)
    items, total = d.service(request).queries.settlements(p, q)
    return d.page_envelope(request, [o.settlement_json() for o in items], total, q.page, q.page_size)


@router.get("/api/v1/settlements/{intent_id}", summary="One won settlement")
async def settlement(request: Request, intent_id: str) -> Response:
    p = d.caller(request, d.MARKET_MAKER)
    return d.envelope(
        request, d.service(request).queries.settlement(p, d.intent(intent_id)).settlement_json()
    )


d.secure(router)
