"""`create_app(settings)`: the whole server as one ASGI app, its lifespan owning the database,
the domain clock, the streams engine and every family's services. Nothing is global: tests
build as many independent apps as they need.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp

from app import errors, openapi
from app.config import Settings
from app.deps import AdminAuth
from app.edge import Edge
from app.families import Registry
from app.lifecycle import discover, start_context, stop_context
from app.routers import admin, asyncapi, core, dashboard, integrator
from app.routing import install as index_routes

log = logging.getLogger("refserver")

DESCRIPTION = """\
refserver serves three financial APIs for local development, contract tests and demos:

* **Musubi settlement** — `/auth/token`, `/whoami`, `/api/v1/...` (REST + SSE)
* **Broker Client API** — `/sign/...`, `/account`, `/trade...`, `/market/...` (REST + WebSocket)
* **Order Entry** — `/api/v1/order-entry/...`, `/api/v1/ws/...` (HMAC-signed REST + WebSocket)

The **control API** under `/_admin` (admin token) drives the domain clock, faults and streams.
WebSocket and SSE channels are described in `/asyncapi.json`.
"""


def control_declarations(registry: Registry) -> openapi.Declarations:
    """The control API's and core routes' declarations, loaded with the first /openapi.json."""
    from app.routers.admin_schemas import declarations

    return declarations(registry)


# FastAPI's built-in OpenTelemetry asks the global providers on every request whether anything
# is configured (~5 % of a Musubi GET); refserver exports no telemetry, so it is off
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


class RefApp(FastAPI):
    """FastAPI with the edge layer outside everything (see `app/edge.py`)."""

    def build_middleware_stack(self) -> ASGIApp:
        return Edge(super().build_middleware_stack(), self)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's description without its default 422: bad input answers 400 in the
        family's shape (`app/errors.py`), never 422."""
        if self.openapi_schema is None:
            schema = super().openapi()
            for item in schema.get("paths", {}).values():
                for op in item.values():
                    if isinstance(op, dict):
                        op.get("responses", {}).pop("422", None)
            text = orjson.dumps({k: v for k, v in schema.items() if k != "components"})
            components = schema.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                if f'/{unused}"'.encode() not in text and unused in components:
                    del components[unused]
            self.openapi_schema = schema
        return self.openapi_schema


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> RefApp:
    settings = settings or Settings()
    reg = discover() if registry is None else registry

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = await start_context(settings, reg)
        app.state.ctx = ctx
        try:
            yield
        finally:
            await stop_context(ctx)

    app = RefApp(
        **_NO_TELEMETRY,
        title="refserver",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are core routes with local assets (app/routers/core.py)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.registry = reg
    errors.install(app)
    app.include_router(core.router)
    app.mount(core.ASSETS_URL, core.assets(), name="docs-assets")
    app.include_router(asyncapi.router)
    app.include_router(dashboard.router)
    app.include_router(admin.router)
    for fam in reg:
        for router in fam.routers:
            app.include_router(router)
        if fam.admin_router is not None:
            app.include_router(fam.admin_router, prefix="/_admin", dependencies=[AdminAuth], tags=["control"])
    app.include_router(integrator.router)  # after the families: their routes are matched first
    openapi.install(app, reg, control_declarations)
    index_routes(app.router)  # route lookup by leading path segments (app/routing.py)
    return app
