"""Wire helpers for the Musubi routers: bearer auth, the envelope, JSON bodies."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from app.context import AppContext
from app.engine.errors import Forbidden
from app.engine.musubi import validate as v
from app.engine.musubi.auth import unauthorized
from app.engine.musubi.model import Participant, iso
from app.engine.musubi.service import Musubi

INSTITUTION = frozenset({"institution"})
CUSTODIAN = frozenset({"custodian"})
PARTIES = frozenset({"institution", "custodian"})
MARKET_MAKER = frozenset({"market-maker"})
ANYONE = frozenset({"institution", "custodian", "market-maker"})

JSON = "application/json"


def service(conn: HTTPConnection) -> Musubi:
    ctx: AppContext = conn.app.state.ctx
    svc: Musubi = ctx.service("musubi")
    return svc


def bearer(conn: HTTPConnection, *, query_token: bool = False) -> str | None:
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("malformed Authorization header: expected 'Bearer <jwt>'")
        return token
    if query_token:
        return conn.query_params.get("access_token") or None
    return None


def caller(conn: HTTPConnection, roles: frozenset[str], *, query_token: bool = False) -> Participant:
    """The authenticated participant; 401 for a bad token, 403 for a role not in `roles`."""
    p = service(conn).authenticate(bearer(conn, query_token=query_token))
    conn.scope.setdefault("state", {})["caller"] = p.party_id
    if p.role not in roles:
        raise Forbidden(f"role {p.role} may not use this route", code="FORBIDDEN")
    return p


def _meta(conn: HTTPConnection) -> bytes:
    state = conn.scope.get("state") or {}
    ctx: AppContext = conn.app.state.ctx
    return orjson.dumps({"request_id": state.get("request_id", ""), "timestamp": iso(ctx.clock.now_ms())})


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


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise v.invalid("body", "a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise v.invalid("body", "must be valid JSON") from None


def intent(intent_id: str) -> str:
    """Path ids are UUIDs; anything else cannot name an order (404, like an unknown one)."""
    return intent_id.lower() if v.is_uuid(intent_id) else ""
