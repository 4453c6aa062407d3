"""The broker family: what it plugs into the app (prefixes, error shape, service, routers)."""

from __future__ import annotations

from typing import Any

from app.engine.broker.service import BrokerService
from app.families import ErrorShape, Family
from app.openapi import lazy
from app.routers.broker import account, admin, alerts, asyncapi, market, scripts, sign, trade, ws


def error_body(
    code: str, message: str, details: list[dict[str, Any]], rid: str, now_ms: int
) -> dict[str, Any]:
    """`{"error": "<CODE>", "message": "..."}`"""
    return {"error": code, "message": message}


ERRORS = ErrorShape(
    codes={
        400: "INVALID_DATA",
        401: "PERMISSION_DENIED",
        402: "USER_DISABLED",
        403: "USER_NOT_FOUND_OR_INCORRECT",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        409: "NOT_ENOUGH_MONEY",
        413: "PAYLOAD_TOO_LARGE",
        422: "INVALID_DATA",
        500: "INTERNAL_ERROR",
        503: "SERVICE_UNAVAILABLE",
    },
    body=error_body,
)


family = Family(
    name="broker",
    title="Broker Client API",
    prefixes=(
        "/sign/",
        "/account",
        "/trade",
        "/trades",
        "/market/",
        "/scripts",
        "/script",
        "/settings",
        "/price_alert",
        "/ws",
    ),
    create=BrokerService,
    errors=ERRORS,
    routers=[
        sign.router,
        account.router,
        trade.router,
        market.router,
        scripts.router,
        alerts.router,
        ws.router,
    ],
    admin_router=admin.router,
    asyncapi=asyncapi.asyncapi,
    order=2,
    openapi=lazy("app.routers.broker.schemas"),
)
