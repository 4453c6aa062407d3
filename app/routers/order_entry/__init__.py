"""The Order Entry family: what it plugs into the app (prefixes, error shape, service, routers)."""

from __future__ import annotations

from app.engine.order_entry.service import FAMILY, OrderEntryService
from app.families import CORE_CODES, ErrorShape, Family
from app.openapi import lazy
from app.routers.order_entry import admin, asyncapi, fix_listener, rest, ws

# `{"error": {"code", "message"}}`, the core's own shape
ERRORS = ErrorShape(codes=dict(CORE_CODES))


family = Family(
    name=FAMILY,
    title="Order Entry",
    prefixes=("/api/v1/order-entry/", "/api/v1/accounts/", "/api/v1/ws/", "/api/v1/bsl/"),
    create=OrderEntryService,
    errors=ERRORS,
    routers=[rest.router, ws.router],
    admin_router=admin.router,
    asyncapi=asyncapi.asyncapi,
    listener=fix_listener.start_fix,
    order=3,
    openapi=lazy("app.routers.order_entry.schemas"),
)
