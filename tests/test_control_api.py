"""Control API core: auth, clock, faults, journal, reset."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN_HEADERS, live_server, make_settings, running_app

pytestmark = pytest.mark.anyio


async def test_admin_requires_token(db_url: str) -> None:
    """No or wrong admin token → 401 on every control route; the right one → 200."""
    async with running_app(make_settings(db_url)) as r:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "test-admin"}):
            resp = await r.client.get("/_admin/clock", headers=headers)
            assert resp.status_code == 401
            assert resp.json()["error"]["code"] == "UNAUTHORIZED"
        assert (await r.client.post("/_admin/reset", json={})).status_code == 401
        assert (await r.client.get("/_admin/clock", headers=ADMIN_HEADERS)).status_code == 200


async def test_live_server_health(sqlite_url: str) -> None:
    """A real uvicorn on port 0 answers /health."""
    async with live_server(make_settings(sqlite_url)) as live, httpx.AsyncClient() as c:
        resp = await c.get(live.base_url + "/health")
        assert resp.json() == {"status": "ok"}
