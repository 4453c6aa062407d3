"""What every broker route shares: the service, the caller (from `Authorization: <jwt>`), the
body, the tabular answers, and the Annotated dependency aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.engine.broker.model import Account
from app.engine.broker.service import BrokerService
from app.engine.broker.sessions import Claims
from app.engine.broker.store import FAMILY
from app.engine.broker.validate import INVALID
from app.engine.errors import Unauthorized
from app.routers.kit import answer, bearer, read_json

OK_BYTES = b'{"data":"OK"}'
# every method of every broker path, whichever route declares it (several routes share a path)
ALLOW: dict[str, set[str]] = {}


class BrokerRoute(APIRoute):
    """A broker route whose 405 and OPTIONS answers list every method of its path in `Allow`."""

    def __init__(self, path: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(path, *args, **kwargs)
        ALLOW.setdefault(self.path_format, {"OPTIONS"}).update(self.methods or ())

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allow = ", ".join(sorted(ALLOW.get(self.path_format, self.methods)))
            if scope["method"] == "OPTIONS":
                await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
                return
            raise HTTPException(status_code=405, headers={"Allow": allow})
        await super().handle(scope, receive, send)


def router(tag: str | None = None) -> APIRouter:
    """A broker section's router."""
    return APIRouter(tags=[tag] if tag else None, route_class=BrokerRoute)


Endpoint = Callable[..., Awaitable[Response]]


def add_routes(router: APIRouter, *routes: tuple[str, str, str, Endpoint, str, dict[str, Any]]) -> None:
    """Routes declared as a table: (method, path, name, endpoint, summary, openapi_extra); the
    name is the route's (and its OpenAPI operation id's) as a decorated function's would be."""
    for method, path, name, endpoint, summary, doc in routes:
        router.add_api_route(path, endpoint, methods=[method], name=name, summary=summary, openapi_extra=doc)


def service(conn: HTTPConnection) -> BrokerService:
    svc: BrokerService = conn.app.state.ctx.services["broker"]
    return svc


def ok() -> Response:
    return answer(OK_BYTES)


def ok_id(new_id: int) -> Response:
    return answer(b'{"data":"OK","id":%d}' % new_id)


def table(structure: tuple[str, ...] | list[str], rows: list[list[Any]], **extra: Any) -> Response:
    return answer({"structure": list(structure), "rows": rows, **extra})


def token_of(value: str) -> str:
    """A token as sent in a WebSocket auth frame: `<jwt>` or `Bearer <jwt>`."""
    token = value.strip()
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
    token = bearer(request, strict=False)
    if not token:
        raise Unauthorized("Authorization: <jwt> is required", code="PERMISSION_DENIED")
    acc, claims = service(request).sessions.authenticate(token)
    chaos = request.app.state.ctx.chaos
    if chaos.active and chaos.expire_token(FAMILY, str(acc.login), token):  # seeded chaos (§7.2)
        raise Unauthorized("token expired", code="PERMISSION_DENIED")
    request.state.caller = f"broker:{acc.login}"
    # the query string is parsed only when there is one (most calls carry none)
    login = request.query_params.get("login") if request.scope.get("query_string") else None
    if login is not None and not _same_login(login, acc.login):
        raise Unauthorized("login does not match the token", code="PERMISSION_DENIED")
    return Caller(acc, claims)


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object body (an empty body is `{}`), nested at most 64 deep; 400 INVALID_DATA otherwise."""
    body: dict[str, Any] = await read_json(request, required=False, code=INVALID)
    return body


async def body_of(request: Request, caller: Caller) -> dict[str, Any]:
    """The body, refusing a `login` that differs from the token's (401 PERMISSION_DENIED)."""
    body = await read_body(request)
    if "login" in body and body["login"] is not None and not _same_login(body["login"], caller.account.login):
        raise Unauthorized("login does not match the token", code="PERMISSION_DENIED")
    return body


Svc = Annotated[BrokerService, Depends(service)]
Auth = Annotated[Caller, Depends(authenticate)]


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
