"""Each family's error shape, and the handlers that render every error through it.

Each family declares its shape (`Family.errors`); the core and control routes answer
`{"error": {"code", "message"}}`.

Domain errors, FastAPI's validation errors, unknown routes and unexpected exceptions all come
here; no stack trace ever reaches the wire.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response

from app.clock import wall_ms
from app.engine.errors import DomainError
from app.families import CORE_ERRORS, ErrorShape, Family, Registry

log = logging.getLogger("refserver.errors")


class BodyTooLarge(StarletteHTTPException):
    """A request body past `REFSERVER_MAX_BODY_BYTES`: 413 in the family's shape.

    Raised by the edge's counting `receive` while a body without Content-Length is read, so it
    reaches the handlers below like any HTTP error (FastAPI re-raises HTTP errors met while it
    reads a body)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        self.limit = limit


def too_large_message(limit: int) -> str:
    return f"request body exceeds {limit} bytes"


def render(
    shape: ErrorShape,
    status: int,
    code: str | None,
    message: str,
    details: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
    now_ms: int | None = None,
) -> Response:
    """An error answer in the family's shape (`CORE_ERRORS` for core and control routes)."""
    body = shape.body(
        code or shape.code_for(status), message, details or [], request_id or "", now_ms or wall_ms()
    )
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def shape_for(conn: HTTPConnection) -> ErrorShape:
    """The error shape of the family that owns the request's path."""
    fam = family_of(conn)
    return fam.errors if fam is not None else CORE_ERRORS


def family_of(conn: HTTPConnection) -> Family | None:
    state = conn.scope.get("state") or {}
    if "family_obj" in state:
        fam: Family | None = state["family_obj"]
        return fam
    registry: Registry | None = getattr(conn.app.state, "registry", None)
    return registry.for_path(conn.url.path) if registry is not None else None


def _request_id(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


def _now(request: Request) -> int | None:
    ctx = getattr(request.app.state, "ctx", None)
    return ctx.clock.now_ms() if ctx is not None else None


def validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "body"
        if err.get("type") == "json_invalid":
            field, reason = "body", "must be valid JSON"
        else:
            reason = str(err.get("msg", "invalid"))
        details.append({"field": field, "reason": reason})
    return details


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return render(
            shape_for(request),
            exc.status,
            exc.code,
            exc.message,
            exc.details,
            _request_id(request),
            _now(request),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = validation_details(exc)
        message = "; ".join(f"{d['field']}: {d['reason']}" for d in details) or "invalid request"
        return render(shape_for(request), 400, None, message, details, _request_id(request), _now(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        resp = render(
            shape_for(request), exc.status_code, None, message, None, _request_id(request), _now(request)
        )
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        # Starlette re-raises after this answer; the edge sees the mark and keeps the connection
        request.scope.setdefault("state", {})["error_answered"] = exc
        return render(
            shape_for(request), 500, None, "internal error", None, _request_id(request), _now(request)
        )
