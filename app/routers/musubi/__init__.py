"""The Musubi family: what it plugs into the app (prefixes, error shape, service, routers)."""

from __future__ import annotations

from typing import Any

from app.clock import iso_ms
from app.engine.musubi.service import Musubi
from app.families import ErrorShape, Family
from app.openapi import lazy
from app.routers.musubi import admin, asyncapi, auth, market_makers, orders, sse


def error_body(
    code: str, message: str, details: list[dict[str, Any]], rid: str, now_ms: int
) -> dict[str, Any]:
    """`{"error": {"code", "message", "details": [{"field","reason"}]}, "meta": {...}}`"""
    return {
        "error": {"code": code, "message": message, "details": details},
        "meta": {"request_id": rid, "timestamp": iso_ms(now_ms)},
    }


ERRORS = ErrorShape(
    codes={
        400: "VALIDATION_ERROR",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "NOT_FOUND",
        409: "CONFLICT",
        413: "PAYLOAD_TOO_LARGE",
        422: "VALIDATION_ERROR",
        500: "INTERNAL_ERROR",
        502: "CANTON_ERROR",
        503: "SERVICE_UNAVAILABLE",
    },
    body=error_body,
    request_id_header=True,
)


family = Family(
    name="musubi",
    title="Musubi settlement",
    prefixes=("/auth/token", "/whoami", "/api/v1/"),
    create=Musubi,
    errors=ERRORS,
    # SSE routes first: /api/v1/orders/events must win over /api/v1/orders/{intent_id}
    routers=[auth.public, sse.router, auth.router, orders.router, market_makers.router],
    admin_router=admin.router,
    asyncapi=asyncapi.asyncapi,
    order=1,
    openapi=lazy("app.routers.musubi.schemas"),
)
