"""The live dashboard at `/` (static files under `app/web`) and its configuration route.

`GET /_admin/dashboard` (admin token) answers the demo identity the page acts as in each
family, from that family's `extra["dashboard"]` hook; null where none is seeded. The page reads
the admin token from the URL fragment (`/#admin=<token>`), which browsers never send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from app.deps import AdminAuth, Ctx

WEB = Path(__file__).resolve().parent.parent / "web"
FILES = {"dashboard.js": "application/javascript", "dashboard.css": "text/css"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(WEB / "index.html", media_type="text/html")


@router.get("/web/{name}")
async def asset(name: str) -> Response:
    if name not in FILES:
        return Response(
            b'{"error":{"code":"NOT_FOUND","message":"no such file"}}', 404, media_type="application/json"
        )
    return FileResponse(WEB / name, media_type=FILES[name])


@router.get("/_admin/dashboard", dependencies=[AdminAuth], tags=["control"])
async def dashboard_config(ctx: Ctx) -> Response:
    """The demo identity each family's service names for the dashboard; null where none is seeded."""
    out: dict[str, Any] = {fam.key: ctx.services[fam.name].dashboard() for fam in ctx.registry}
    return Response(orjson.dumps(out), media_type="application/json")
