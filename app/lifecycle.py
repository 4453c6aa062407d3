"""Start, stop and reset: the core's lifecycle, driving every family's service the same way.

start: migrate → clock (restored) → streams → each family's service: seed, then start
reset: stop each family (reverse order) → clock timers, faults, journal → wipe streams and
       each family → seed → start
stop:  stop each family (reverse order) → clock → persist the clock → streams → database
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.clock import DomainClock, wall_ms
from app.config import Settings
from app.context import AppContext
from app.db import Database
from app.engine.runtime import Runtime, Secrets
from app.engine.streams import Emit, Streams
from app.families import Family, Registry
from app.faults import FaultRules
from app.integrator.chaos import Chaos
from app.integrator.coverage import Coverage
from app.journal import Journal

_CLOCK_READ = text("SELECT frozen, now_ms FROM clock_state WHERE id = 1")
_CLOCK_UPDATE = text("UPDATE clock_state SET frozen = :f, now_ms = :n WHERE id = 1")
_CLOCK_INSERT = text("INSERT INTO clock_state (id, frozen, now_ms) VALUES (1, :f, :n)")


def discover() -> Registry:
    """Every package under `app/routers/` that exports a `family`."""
    import app.routers as routers

    found = []
    for mod in pkgutil.iter_modules(routers.__path__):
        if not mod.ispkg:
            continue
        fam = getattr(importlib.import_module(f"app.routers.{mod.name}"), "family", None)
        if isinstance(fam, Family):
            found.append(fam)
    return Registry(found)


def build_context(settings: Settings, registry: Registry) -> AppContext:
    """The whole runtime, not yet started (no migration, no family started)."""
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
        ring_max_bytes=settings.ring_max_bytes,
    )
    runtime = Runtime(
        db=db,
        clock=clock,
        streams=streams,
        settings=settings,
        secrets=Secrets(db, streams),
        seed_mode=settings.seed,
    )
    journal = Journal(settings.journal_size, settings.journal_bodies)
    coverage = Coverage(clock.now_ms, lambda f, s: _head(streams, f, s))
    chaos = Chaos(streams, journal.record, tuple(registry.names), on_cut=coverage.cut, on_gap=coverage.gap)
    return AppContext(
        runtime=runtime,
        registry=registry,
        faults=FaultRules(families=tuple(registry.names)),
        journal=journal,
        coverage=coverage,
        chaos=chaos,
    )


def _head(streams: Streams, family: str, stream: str) -> int | None:
    state = streams.hub.states.get((family, stream))
    return state.head if state is not None else None


async def start_context(settings: Settings, registry: Registry) -> AppContext:
    ctx = build_context(settings, registry)
    ctx.streams.start()
    ctx.clock.on_change = lambda c: _persist_clock_soon(ctx)
    await persist_clock(ctx)
    await ctx.clock.start()
    for fam in registry:
        ctx.services[fam.name] = fam.create(ctx.runtime)
    for svc in ctx.services.values():
        await svc.seed(ctx.seed_mode)
    for svc in ctx.services.values():
        await svc.start()
    if settings.chaos:
        ctx.chaos.configure(load_chaos(settings.chaos))
    return ctx


def load_chaos(path: str) -> object:
    """`serve --chaos FILE`: the JSON body of `POST /_admin/chaos`, from a file."""
    import orjson

    with open(path, "rb") as fh:
        return orjson.loads(fh.read())


async def stop_context(ctx: AppContext) -> None:
    ctx.chaos.stop()
    for svc in reversed(list(ctx.services.values())):
        with contextlib.suppress(Exception):
            await svc.stop()
    await ctx.clock.stop()
    await persist_clock(ctx)
    await ctx.streams.close()
    ctx.db.dispose()


async def reset_state(ctx: AppContext, seed: str) -> None:
    """Control-API reset: stop the families, wipe every table and stream, re-seed, restart."""
    services = list(ctx.services.values())
    for svc in reversed(services):
        await svc.stop()
    ctx.clock.cancel_all()
    ctx.faults.clear()
    ctx.journal.clear()
    ctx.coverage.clear()
    await ctx.streams.wipe()
    for svc in services:
        await svc.wipe()
    ctx.runtime.seed_mode = seed
    for svc in services:
        await svc.seed(seed)
    for svc in services:
        await svc.start()
    ctx.chaos.restart()


def _persist_clock_soon(ctx: AppContext) -> None:
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().create_task(persist_clock(ctx))


async def persist_clock(ctx: AppContext) -> None:
    clock = ctx.clock

    def write(conn: Connection, emit: Emit) -> None:
        snap = clock.snapshot()
        params: dict[str, Any] = {"f": snap["frozen"], "n": snap["now_ms"]}
        if conn.execute(_CLOCK_UPDATE, params).rowcount == 0:
            conn.execute(_CLOCK_INSERT, params)

    with contextlib.suppress(Exception):
        await ctx.streams.transact(write)


__all__ = ["Streams", "discover", "reset_state", "start_context", "stop_context"]
