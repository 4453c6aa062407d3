"""Each family's error shape, and the handlers that render every error through it.

- Musubi: `{"error": {"code", "message", "details": [{"field","reason"}]}, "meta": {"request_id","timestamp"}}`
- broker: `{"error": "<CODE>", "message": "..."}`
- Order Entry and the core/control routes: `{"error": {"code", "message"}}`

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
from starlette.responses import Response

from app.clock import iso_ms, wall_ms
from app.engine.errors import DomainError
from app.families import BROKER, MUSUBI, ORDER_ENTRY, family_for_path

log = logging.getLogger("refserver.errors")

DEFAULT_CODES: dict[str | None, dict[int, str]] = {
    MUSUBI: {
        400: "VALIDATION_ERROR",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "NOT_FOUND",
        409: "CONFLICT",
        422: "VALIDATION_ERROR",
        500: "INTERNAL_ERROR",
        502: "CANTON_ERROR",
        503: "SERVICE_UNAVAILABLE",
    },
    BROKER: {
        400: "INVALID_DATA",
        401: "PERMISSION_DENIED",
        402: "USER_DISABLED",
        403: "USER_NOT_FOUND_OR_INCORRECT",
        404: "NOT_FOUND",
        405: "NOT_FOUND",
        409: "NOT_ENOUGH_MONEY",
        422: "INVALID_DATA",
        500: "INTERNAL_ERROR",
        503: "SERVICE_UNAVAILABLE",
    },
    ORDER_ENTRY: {
        400: "INVALID_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        409: "CONFLICT",
        422: "INVALID_REQUEST",
        500: "INTERNAL_ERROR",
        503: "SERVICE_UNAVAILABLE",
    },
    None: {
        400: "INVALID_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        409: "CONFLICT",
        422: "INVALID_REQUEST",
        500: "INTERNAL_ERROR",
        503: "SERVICE_UNAVAILABLE",
    },
}


def default_code(family: str | None, status: int) -> str:
    codes = DEFAULT_CODES.get(family, DEFAULT_CODES[None])
    return codes.get(status) or (
        "INTERNAL_ERROR" if status >= 500 else DEFAULT_CODES[None].get(status, "ERROR")
    )


def error_body(
    family: str | None,
    status: int,
    code: str | None,
    message: str,
    details: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    code = code or default_code(family, status)
    if family == MUSUBI:
        return {
            "error": {"code": code, "message": message, "details": details or []},
            "meta": {"request_id": request_id or "", "timestamp": iso_ms(now_ms or wall_ms())},
        }
    if family == BROKER:
        return {"error": code, "message": message}
    return {"error": {"code": code, "message": message}}


def render(
    family: str | None,
    status: int,
    code: str | None,
    message: str,
    details: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
    now_ms: int | None = None,
) -> Response:
    body = error_body(family, status, code, message, details, request_id, now_ms)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _family(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    if "family" in state:
        fam: str | None = state["family"]
        return fam
    return family_for_path(request.url.path)


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
            _family(request),
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
        return render(_family(request), 400, None, message, details, _request_id(request), _now(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        resp = render(
            _family(request), exc.status_code, None, message, None, _request_id(request), _now(request)
        )
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return render(
            _family(request), 500, None, "internal error", None, _request_id(request), _now(request)
        )
