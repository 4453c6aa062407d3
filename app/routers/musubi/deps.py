"""What every Musubi route shares: the service accessor, the caller (bearer → participant, role
check), the envelope, path ids, and the OpenAPI declarations of the bearer scheme and bodies.

Authentication is a plain call (`caller(request, ROLES)`) rather than a FastAPI dependency:
a per-request dependency costs real time on hot paths. The bearer scheme is declared for
/docs ("Authorize") through one cold route's dependency (`BEARER`); every other route only
references it (`secure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from app.context import AppContext
from app.engine.musubi import validate as v
from app.engine.musubi.model import FAMILY, Participant, forbidden, iso
from app.engine.musubi.participants import unauthorized
from app.engine.musubi.service import Musubi
from app.routers.kit import JSON, MalformedBearer, bearer, read_json
from app.routing import plain_routes

INSTITUTION = frozenset({"institution"})
CUSTODIAN = frozenset({"custodian"})
PARTIES = frozenset({"institution", "custodian"})
MARKET_MAKER = frozenset({"market-maker"})
ANYONE = frozenset({"institution", "custodian", "market-maker"})


def service(conn: HTTPConnection) -> Musubi:
    ctx: AppContext = conn.app.state.ctx
    svc: Musubi = ctx.service("musubi")
    return svc


def caller(conn: HTTPConnection, roles: frozenset[str], *, query_token: bool = False) -> Participant:
    """The authenticated participant; 401 for a bad token, 403 for a role not in `roles`.

    `query_token`: the SSE routes also take the token as `?access_token=` (the header wins)."""
    try:
        token = bearer(conn, query_param="access_token" if query_token else None)
    except MalformedBearer:
        raise unauthorized("malformed Authorization header: expected 'Bearer <jwt>'") from None
    p = service(conn).participants.authenticate(token)
    chaos = conn.app.state.ctx.chaos
    if chaos.active and chaos.expire_token(FAMILY, p.party_id, token):  # seeded chaos (§7.2)
        raise unauthorized("token expired")
    conn.scope.setdefault("state", {})["caller"] = p.party_id
    if p.role not in roles:
        raise forbidden(f"role {p.role} may not use this route")
    return p


def acting(conn: HTTPConnection, roles: frozenset[str]) -> tuple[Participant, Musubi]:
    """The caller of a mutating route and the service, once the settlement network is known to
    be up (502 `CANTON_ERROR` otherwise, after the 401/403 checks)."""
    p = caller(conn, roles)
    svc = service(conn)
    svc.require_network()
    return p, svc


def _meta(conn: HTTPConnection) -> bytes:
    state = conn.scope.get("state") or {}
    return orjson.dumps(
        {"request_id": state.get("request_id", ""), "timestamp": iso(service(conn).clock.now_ms())}
    )


def envelope(conn: HTTPConnection, data: Any, status: int = 200) -> Response:
    """`{"data": ..., "meta": ...}`; `data` may be pre-serialised bytes."""
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return Response(b'{"data":' + raw + b',"meta":' + _meta(conn) + b"}", status_code=status, media_type=JSON)


def page_envelope(conn: HTTPConnection, items: list[Any], total: int, page: int, page_size: int) -> Response:
    pagination = {
        "page": page,
        "page_size": page_size,
        "total_items": total,
        "total_pages": (total + page_size - 1) // page_size,
    }
    body = (
        b'{"data":'
        + orjson.dumps(items)
        + b',"meta":'
        + _meta(conn)
        + b',"pagination":'
        + orjson.dumps(pagination)
        + b"}"
    )
    return Response(body, media_type=JSON)


async def json_body(request: Request, *, required: bool = True, obj: bool = True) -> Any:
    """The request body as JSON (whatever its Content-Type), at most `bounds.MAX_DEPTH` deep;
    errors name the field `body` in the envelope."""
    return await read_json(request, required=required, obj=obj, code="VALIDATION_ERROR")


def intent(intent_id: str) -> str:
    """Path ids are UUIDs; anything else cannot name an order (404, like an unknown one)."""
    return intent_id.lower() if v.is_uuid(intent_id) else ""


# --- OpenAPI declarations ----------------------------------------------------------------------
SECURITY: dict[str, Any] = {"security": [{"musubiBearer": []}]}
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="musubiBearer",
    description="JWT from POST /auth/token (HS256, iss musubi, aud musubi-api)",
)
STR = {"type": "string"}


def secure(router: APIRouter) -> None:
    """Every route of `router` is documented as requiring the bearer token, and served as a
    plain Starlette route where FastAPI has nothing to solve (`app.routing.plain`)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            route.openapi_extra = {**(route.openapi_extra or {}), **SECURITY}
    plain_routes(router)


def body_doc(required: list[str], props: dict[str, object], example: Mapping[str, object]) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": props}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


def list_doc(*extra: str) -> dict[str, object]:
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
    return {"parameters": [{"name": n, "in": "query", "required": False, "schema": STR} for n in names]}
