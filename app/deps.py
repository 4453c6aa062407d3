"""Dependency aliases shared by every router: the context and control-API auth.

The dependencies are coroutines: FastAPI runs a plain `def` dependency in its thread pool, a
thread hop on every control request."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.context import AppContext
from app.engine.errors import Unauthorized


def get_ctx(conn: HTTPConnection) -> AppContext:
    ctx: AppContext = conn.app.state.ctx
    return ctx


async def _ctx(conn: HTTPConnection) -> AppContext:
    return get_ctx(conn)


Ctx = Annotated[AppContext, Depends(_ctx)]


async def require_admin(request: Request) -> None:
    ctx = get_ctx(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), ctx.settings.admin_token):
        raise Unauthorized("a valid admin token is required: Authorization: Bearer <admin token>")
    request.state.caller = "admin"


AdminAuth = Depends(require_admin)
