"""Order Entry REST (CONTRACT §4.2): markets, limits, bootstrap, the signed batch, open
orders, gap-fill and the WebSocket token. Every route is SC-* signed."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.engine.order_entry import auth, validate
from app.engine.order_entry.markets import MARKETS
from app.engine.order_entry.service import FAMILY
from app.engine.order_entry.validate import MAX_ACTIONS
from app.routers.kit import answer
from app.routers.order_entry.deps import AccountRead, SignedRead, signed_request
from app.routing import plain

router = APIRouter(tags=["order-entry"])

_MARKETS = orjson.dumps({"markets": [m.to_json() for m in MARKETS]})
_BATCH_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["version", "actions"],
                    "properties": {
                        "version": {"type": "integer", "enum": [1]},
                        "idempotencyKey": {"type": "string", "maxLength": 200},
                        "actions": {
                            "type": "array",
                            "maxItems": MAX_ACTIONS,
                            "items": {
                                "type": "object",
                                "properties": {
                                    "payload": {
                                        "type": "object",
                                        "properties": {
                                            "account": {
                                                "type": "string",
                                                "example": "0xa11ce00000000000000000000000000000000001",
                                            },
                                            "nonce": {"type": "integer"},
                                            "ts": {"type": "integer"},
                                            "action": {
                                                "type": "object",
                                                "description": "externally tagged: SpotPlaceOrder | SpotCancelOrder | SpotReplaceOrder | SpotCancelAll",
                                            },
                                        },
                                    },
                                    "signature": {
                                        "type": "object",
                                        "properties": {
                                            "scheme": {"type": "string"},
                                            "bytes": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                }
            }
        },
    }
}


_SC_HEADERS = (
    ("SC-Auth-Version", "always 2"),
    ("SC-Key", "apiKeyId (spk_…)"),
    ("SC-Nonce", "integer, never reused by the same key"),
    ("SC-Timestamp", "ms since the epoch, within ±30 s of the server's wall clock"),
    ("SC-Passphrase", "apiPassphrase (spp_…)"),
    ("SC-Signature", "hex HMAC-SHA256(apiSecret, canonical string) — see the Order Entry docs"),
)
SIGNED: dict[str, Any] = {
    "parameters": [
        {"name": n, "in": "header", "required": True, "schema": {"type": "string"}, "description": d}
        for n, d in _SC_HEADERS
    ]
}
_BATCH_DOC = {**_BATCH_SCHEMA, **SIGNED}


@plain
async def submit_orders(request: Request) -> Response:
    # the hot path: authenticated here rather than through dependency injection (same checks),
    # and served as a plain route by the route index (no FastAPI dependency solving)
    signed = await signed_request(request)
    return _batch_answer(
        request, signed.agent.api_key_id, await signed.svc.admission.submit(signed.agent, signed.body)
    )


_KEYED = b'{"idempotencyKey":"'


def _batch_answer(request: Request, caller: str, body: bytes) -> Response:
    """The batch answer; its `idempotencyKey` (the answer's first field) goes to client coverage."""
    if body.startswith(_KEYED):
        key = orjson.loads(body[len(_KEYED) - 1 : body.find(b',"results":')])
        request.app.state.ctx.coverage.idempotency(FAMILY, caller, key)
    return answer(body)


router.add_api_route(
    "/api/v1/order-entry/orders",
    submit_orders,
    methods=["POST"],
    summary="Signed batch of actions: fast admission acks; outcomes arrive on the execution stream",
    openapi_extra=_BATCH_DOC,
)
router.add_api_route(
    "/api/v1/bsl/orders/batch",
    submit_orders,
    methods=["POST"],
    name="submit_orders_legacy",
    summary="Legacy alias of POST /api/v1/order-entry/orders",
    openapi_extra=_BATCH_DOC,
)


@router.get("/api/v1/order-entry/markets", summary="The markets and their shards", openapi_extra=SIGNED)
async def markets(signed: SignedRead) -> Response:
    return answer(_MARKETS)


@router.get(
    "/api/v1/order-entry/limits",
    summary="Limits (header x-bsl-contract: bsl-order-entry-v1)",
    openapi_extra=SIGNED,
)
async def limits(signed: SignedRead) -> Response:
    s = signed.svc.rt.settings
    body = {
        "contract": "bsl-order-entry-v1",
        "maxActionsPerBatch": MAX_ACTIONS,
        "timestampSkewMs": auth.SKEW_MS,
        "executionsDefaultLimit": 1000,
        "executionsMaxLimit": validate.MAX_LIMIT,
        "wsTokenTtlMs": s.oe_ws_token_ttl_ms,
        "wsPingIntervalMs": s.oe_ws_ping_interval_ms,
        "wsPongTimeoutMs": s.oe_ws_pong_timeout_ms,
        "scopes": list(auth.SCOPES),
    }
    return answer(body, headers={"x-bsl-contract": "bsl-order-entry-v1"})


@router.get(
    "/api/v1/accounts/{account}/bootstrap",
    summary="Balances, risk and the payload nonce floor",
    openapi_extra=SIGNED,
)
async def bootstrap(reader: AccountRead) -> Response:
    return answer(reader.svc.queries.bootstrap(reader.account))


@router.get(
    "/api/v1/order-entry/accounts/{account}/open-orders",
    summary="Open-orders snapshot with the last stream seq it includes",
    openapi_extra=SIGNED,
)
async def open_orders(reader: AccountRead) -> Response:
    seq, orders = await reader.svc.queries.open_orders(reader.account)
    return answer({"account": reader.account, "seq": seq, "orders": orders})


@router.get(
    "/api/v1/order-entry/accounts/{account}/executions",
    summary="Gap-fill: execution events with seq >= fromSeq (ring first, SQL fallback)",
    openapi_extra=SIGNED,
)
async def executions(
    request: Request,
    signed: SignedRead,
    account: str,
    from_seq: int | None = Query(
        None, alias="fromSeq", description="first seq wanted (events with seq >= fromSeq; default 1)"
    ),
    limit: int | None = Query(None, description="at most this many events (default 1000, max 10000)"),
) -> Response:
    # the account is checked after the query is (not through AccountRead): a bad fromSeq answers 400 first
    acct = signed.svc.agents.require_account(signed.agent, account)
    first, n = validate.gap_fill(from_seq, limit)
    body = await signed.svc.queries.executions(acct, first, n)
    if from_seq is not None:  # a gap-fill read (client coverage, §7.1)
        request.app.state.ctx.coverage.stream(
            FAMILY, signed.agent.api_key_id, "orderEntryPrivate", "gap_fill", stream=acct, from_seq=first
        )
    return answer(body)


@router.post("/api/v1/ws/token", summary="A single-use token for the private WebSocket", openapi_extra=SIGNED)
async def ws_token(signed: SignedRead) -> Response:
    tok = await signed.svc.tokens.issue(signed.agent)
    return answer({"token": tok.token, "expiresAtMs": tok.expires_ms, "account": tok.account})
