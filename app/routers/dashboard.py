"""The live dashboard at `/` (static files under `app/web`) and its configuration route.

`GET /_admin/dashboard` (admin token) answers the demo identities the page acts as, one per
family; null where a family has none (`--seed none`). The page reads the admin token from the URL fragment (`/#admin=<token>`),
which browsers never send to the server.
"""

from __future__ import annotations

import importlib
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


def _demo_identities() -> dict[str, Any]:
    """The demo identity the page acts as in each family (fixed, documented credentials)."""
    from app.engine.broker.service import DEMO_USERS
    from app.engine.musubi.service import DEMO_PARTICIPANTS, demo_party_id

    name, role, client_id, secret, _ = next(p for p in DEMO_PARTICIPANTS if p[0] == "CustodianA")
    user = DEMO_USERS[0]
    out: dict[str, Any] = {
        "musubi": {
            "name": name,
            "role": role,
            "client_id": client_id,
            "client_secret": secret,
            "party_id": demo_party_id(name),
        },
        "broker": {"login": user["login"], "password": user["password"]},
        "order_entry": None,
    }
    try:
        agents = importlib.import_module("app.engine.order_entry.service").DEMO_AGENTS
        out["order_entry"] = {k: agents[0][k] for k in ("apiKeyId", "apiSecret", "apiPassphrase", "account")}
    except (ImportError, AttributeError, IndexError, KeyError):
        pass
    return out


@router.get("/_admin/dashboard", dependencies=[AdminAuth], tags=["control"])
async def dashboard_config(ctx: Ctx) -> Response:
    """Demo identities per family; null for every family when the server runs with `--seed none`."""
    out: dict[str, Any] = {"musubi": None, "broker": None, "order_entry": None}
    if ctx.seed_mode == "demo":
        out = _demo_identities()
    keys = {"musubi": "musubi", "broker": "broker", "order-entry": "order_entry"}
    for fam in ctx.services.get("_families", []):
        hook = fam.extra.get("dashboard")
        if hook is not None:  # a family's own choice wins
            out[keys[fam.name]] = await hook(ctx)
    return Response(orjson.dumps(out), media_type="application/json")
