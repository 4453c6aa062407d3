"""`create_app(settings)`: the whole server as one ASGI app, its lifespan owning the database,
the domain clock, the streams engine and every family's services. Nothing is global: tests
build as many independent apps as they need.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Connection
from starlette.types import ASGIApp

from app import errors
from app.clock import DomainClock, wall_ms
from app.config import Settings
from app.context import AppContext
from app.db import Database
from app.deps import AdminAuth
from app.edge import Edge
from app.engine.streams import Emit, Streams
from app.families import Family
from app.faults import FaultRules
from app.journal import Journal
from app.routers import admin, asyncapi, core, dashboard

log = logging.getLogger("refserver")

DESCRIPTION = """\
refserver serves three financial APIs for local development, contract tests and demos:

* **Musubi settlement** — `/auth/token`, `/whoami`, `/api/v1/...` (REST + SSE)
* **Broker Client API** — `/sign/...`, `/account`, `/trade...`, `/market/...` (REST + WebSocket)
* **Order Entry** — `/api/v1/order-entry/...`, `/api/v1/ws/...` (HMAC-signed REST + WebSocket)

The **control API** under `/_admin` (admin token) drives the domain clock, faults and streams.
WebSocket and SSE channels are described in `/asyncapi.json`.
"""


def load_families() -> list[Family]:
    """Every family the app serves, each from its router package's `family` object."""
    from app.routers.broker import family as broker
    from app.routers.musubi import family as musubi
    from app.routers.order_entry import family as order_entry

    return [musubi, broker, order_entry]


class RefApp(FastAPI):
    """FastAPI with the edge layer outside everything (see `app/edge.py`)."""

    def build_middleware_stack(self) -> ASGIApp:
        return Edge(super().build_middleware_stack(), self)


def create_app(settings: Settings | None = None, *, families: list[Family] | None = None) -> RefApp:
    settings = settings or Settings()
    fams = load_families() if families is None else families

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = await start_context(settings, fams)
        app.state.ctx = ctx
        app.state.families = fams
        try:
            yield
        finally:
            await stop_context(ctx, fams)

    app = RefApp(
        title="refserver",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.families = fams
    errors.install(app)
    app.include_router(core.router)
    app.include_router(asyncapi.router)
    app.include_router(dashboard.router)
    app.include_router(admin.router)
    for fam in fams:
        for router in fam.routers:
            app.include_router(router)
        if fam.admin_router is not None:
            app.include_router(fam.admin_router, prefix="/_admin", dependencies=[AdminAuth], tags=["control"])
    return app


# --- lifecycle ---------------------------------------------------------------------------------
_CLOCK_READ = text("SELECT frozen, now_ms FROM clock_state WHERE id = 1")


async def start_context(settings: Settings, families: list[Family]) -> AppContext:
    db = Database(settings.database_url)
    db.migrate()
    stored = db.read_sync(lambda c: c.execute(_CLOCK_READ).first())
    frozen = settings.clock == "frozen"
    if stored is None:
        start = wall_ms()
    elif frozen and bool(stored[0]):
        start = int(stored[1])
    else:
        start = max(wall_ms(), int(stored[1]))
    clock = DomainClock(frozen=frozen, start_ms=start)
    streams = Streams(
        db,
        clock,
        ring_max_events=settings.ring_max_events,
        ring_retention_ms=settings.ring_retention_ms,
        queue_max=settings.subscriber_queue_max,
    )
    streams.start()
    ctx = AppContext(
        settings=settings,
        db=db,
        clock=clock,
        streams=streams,
        faults=FaultRules(),
        journal=Journal(settings.journal_size),
        seed_mode=settings.seed,
    )
    ctx.services["_families"] = families
    clock.on_change = lambda c: _persist_clock_soon(ctx)
    await persist_clock(ctx)
    await clock.start()
    for fam in families:
        if fam.seed is not None:
            await fam.seed(ctx, settings.seed)
    for fam in families:
        if fam.start is not None:
            await fam.start(ctx)
    return ctx


async def stop_context(ctx: AppContext, families: list[Family]) -> None:
    for fam in reversed(families):
        if fam.stop is not None:
            with contextlib.suppress(Exception):
                await fam.stop(ctx)
    await ctx.clock.stop()
    await persist_clock(ctx)
    await ctx.streams.close()
    ctx.db.dispose()


async def reset_state(ctx: AppContext, seed: str) -> None:
    """Control-API reset: stop the families, wipe every table and stream, re-seed, restart."""
    families: list[Family] = ctx.services.get("_families", [])
    for fam in reversed(families):
        if fam.stop is not None:
            await fam.stop(ctx)
    ctx.clock.cancel_all()
    ctx.faults.clear()
    ctx.journal.clear()
    await ctx.streams.wipe()
    for fam in families:
        if fam.wipe is not None:
            await fam.wipe(ctx)
    ctx.seed_mode = seed
    for fam in families:
        if fam.seed is not None:
            await fam.seed(ctx, seed)
    for fam in families:
        if fam.start is not None:
            await fam.start(ctx)


def _persist_clock_soon(ctx: AppContext) -> None:
    import asyncio

    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().create_task(persist_clock(ctx))


async def persist_clock(ctx: AppContext) -> None:
    clock = ctx.clock
    db = ctx.db

    def write(conn: Connection, emit: Emit) -> None:
        snap = clock.snapshot()
        params: dict[str, Any] = {"f": snap["frozen"], "n": snap["now_ms"]}
        updated = conn.execute(text("UPDATE clock_state SET frozen = :f, now_ms = :n WHERE id = 1"), params)
        if updated.rowcount == 0:
            conn.execute(text("INSERT INTO clock_state (id, frozen, now_ms) VALUES (1, :f, :n)"), params)

    if db is not None:
        with contextlib.suppress(Exception):
            await ctx.streams.transact(write)
