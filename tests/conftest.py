"""Shared fixtures: fresh databases (SQLite and PostgreSQL), the real app, a real uvicorn.

- `sqlite_url`: a fresh, migrated SQLite file for this test.
- `db_url`: parametrised over SQLite and PostgreSQL; the PostgreSQL half runs on a database
  created for this test from a migrated template (this run's own), dropped afterwards, and is
  skipped with a reason when TEST_DATABASE_URL is unset.
- `make_settings(url, **overrides)`: test settings (frozen clock, no seed, admin token "test-admin").
- `running_app(settings)`: async context manager → `Running(app, ctx, client)` with an
  `httpx.AsyncClient` over `ASGITransport` and the lifespan running.
- `live_server(settings)`: async context manager → `Live(app, ctx, base_url, broker_ws_url)`,
  a real uvicorn on port 0 (both listeners) in this test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.config import Settings
from app.context import AppContext
from app.db import Database, normalise_url

ADMIN = "test-admin"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
RUN_ID = uuid.uuid4().hex[:8]
# servers started by tests pick a free FIX port instead of the default 9878 (no collisions)
os.environ.setdefault("REFSERVER_FIX_PORT", "0")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- databases ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    path = tmp_path / "refserver.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


def _pg_admin_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL")


def _pg_exec(sql: str) -> None:
    url = _pg_admin_url()
    assert url
    eng = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with eng.connect() as c:
        c.exec_driver_sql(sql)
    eng.dispose()


def _pg_url_for(name: str) -> str:
    url = sa.make_url(normalise_url(_pg_admin_url() or ""))
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str | None]:
    if not _pg_admin_url():
        yield None
        return
    name = f"refserver_{RUN_ID}_tpl"
    _pg_exec(f'CREATE DATABASE "{name}"')
    db = Database(_pg_url_for(name))
    db.migrate()
    db.dispose()
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_pg_counter = iter(range(1, 10**9))


@pytest.fixture
def pg_url(_pg_template: str | None) -> Iterator[str]:
    if _pg_template is None:
        pytest.skip("PostgreSQL half skipped: TEST_DATABASE_URL is not set (.ci/run sets it)")
    name = f"refserver_{RUN_ID}_{next(_pg_counter)}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"')
    yield _pg_url_for(name)
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


# --- the app -------------------------------------------------------------------------------------
def make_settings(url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": url,
        "admin_token": ADMIN,
        "seed": "none",
        "clock": "frozen",
        "port": 0,
        "broker_ws_port": 0,
        "log_level": "warning",
    }
    base.update(overrides)
    return Settings(**base)


@dataclass
class Running:
    app: Any
    ctx: AppContext
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Running]:
    from app.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://refserver.test") as client:
            yield Running(app, app.state.ctx, client)


@dataclass
class Live:
    app: Any
    ctx: AppContext
    base_url: str
    broker_ws_url: str
    port: int

    @property
    def ws_base(self) -> str:
        return self.base_url.replace("http://", "ws://")


@contextlib.asynccontextmanager
async def live_server(settings: Settings, registry: Any = None) -> AsyncIterator[Live]:
    """A real uvicorn (both listeners, configured as `refserver serve` does) on port 0, in this
    event loop; `registry` replaces the discovered families."""
    from app.cli import _port, servers
    from app.main import create_app

    app = create_app(settings, registry=registry)
    main, broker = servers(
        app, settings.model_copy(update={"host": "127.0.0.1", "port": 0, "broker_ws_port": 0})
    )
    main_task = asyncio.create_task(main.serve())
    async with asyncio.timeout(30):
        while not main.started:
            if main_task.done():
                main_task.result()
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.005)
    broker_task = asyncio.create_task(broker.serve())
    async with asyncio.timeout(30):
        while not broker.started:
            await asyncio.sleep(0.005)
    port = _port(main)
    try:
        yield Live(app, app.state.ctx, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{_port(broker)}/", port)
    finally:
        ctx = getattr(app.state, "ctx", None)
        if ctx is not None:
            ctx.streams.hub.clear("shutdown")
        broker.should_exit = True
        main.should_exit = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(20):
                await asyncio.gather(broker_task, main_task)


async def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.005) -> None:
    """Poll `predicate()` (sync or async) until true; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(interval)
