"""What every broker route shares: the caller (from `Authorization: <jwt>`), bodies, answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.requests import HTTPConnection
from starlette.responses import Response

from app.engine.broker.auth import Claims
from app.engine.broker.fields import bad
from app.engine.broker.service import BrokerService
from app.engine.broker.state import Account
from app.engine.errors import Unauthorized

OK_BYTES = b'{"data":"OK"}'


def service(conn: HTTPConnection) -> BrokerService:
    svc: BrokerService = conn.app.state.ctx.services["broker"]
    return svc


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


def ok() -> Response:
    return Response(OK_BYTES, media_type="application/json")


def ok_id(new_id: int) -> Response:
    return Response(b'{"data":"OK","id":%d}' % new_id, media_type="application/json")


def table(structure: tuple[str, ...] | list[str], rows: list[list[Any]], **extra: Any) -> Response:
    return json_response({"structure": list(structure), "rows": rows, **extra})


def bearer(header: str) -> str:
    token = header.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


@dataclass(slots=True)
class Caller:
    account: Account
    claims: Claims


def _same_login(value: Any, login: int) -> bool:
    return str(value).strip() == str(login)


async def authenticate(request: Request) -> Caller:
    header = request.headers.get("authorization")
    if not header or not bearer(header):
        raise Unauthorized("Authorization: <jwt> is required", code="PERMISSION_DENIED")
    acc, claims = service(request).authenticate(bearer(header))
    request.state.caller = f"broker:{acc.login}"
    login = request.query_params.get("login")
    if login is not None and not _same_login(login, acc.login):
        raise Unauthorized("login does not match the token", code="PERMISSION_DENIED")
    return Caller(acc, claims)


Auth = Annotated[Caller, Depends(authenticate)]


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object body (an empty body is `{}`); 400 INVALID_DATA otherwise."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad("body", "must be valid JSON") from None
    if not isinstance(body, dict):
        raise bad("body", "must be a JSON object")
    return body


async def body_of(request: Request, caller: Caller) -> dict[str, Any]:
    """The body, refusing a `login` that differs from the token's (401 PERMISSION_DENIED)."""
    body = await read_body(request)
    if "login" in body and body["login"] is not None and not _same_login(body["login"], caller.account.login):
        raise Unauthorized("login does not match the token", code="PERMISSION_DENIED")
    return body


def body_doc(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """`openapi_extra` describing a JSON body that the route reads itself."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"requestBody": {"required": bool(required), "content": {"application/json": {"schema": schema}}}}


INT = {"type": "integer"}
NUM = {"type": "number"}
STR = {"type": "string"}


def query_doc(*params: tuple[str, dict[str, Any], str]) -> dict[str, Any]:
    """`openapi_extra` describing query parameters that the route reads itself."""
    return {
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": schema, "description": d}
            for n, schema, d in params
        ]
    }
