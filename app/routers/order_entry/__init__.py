"""The order-entry family: its routers, control routes and lifecycle hooks."""

from __future__ import annotations

from typing import Any

from app.context import AppContext
from app.engine.order_entry import auth
from app.engine.order_entry.service import DEMO_AGENTS, FAMILY, OrderEntryService
from app.families import Family
from app.routers.order_entry import admin, rest, ws


def _service(ctx: AppContext) -> OrderEntryService:
    svc: OrderEntryService | None = ctx.services.get(FAMILY)
    if svc is None:
        svc = ctx.services[FAMILY] = OrderEntryService(ctx)
    return svc


async def _seed(ctx: AppContext, mode: str) -> None:
    await _service(ctx).seed(mode)


async def _start(ctx: AppContext) -> None:
    await _service(ctx).start()


async def _stop(ctx: AppContext) -> None:
    svc = ctx.services.get(FAMILY)
    if svc is not None:
        await svc.stop()


async def _wipe(ctx: AppContext) -> None:
    await _service(ctx).wipe()


async def _credentials(ctx: AppContext) -> list[str]:
    return _service(ctx).credential_lines()


async def _token(ctx: AppContext, args: list[str]) -> str:
    """`refserver token order-entry [METHOD PATH [BODY]]`: curl -H flags signed by demo trader A
    (valid for 30 s). Order Entry has no bearer token: every call is HMAC-signed."""
    import time

    method = args[0].upper() if args else "GET"
    path = args[1] if len(args) > 1 else "/api/v1/order-entry/markets"
    body = args[2].encode() if len(args) > 2 else b""
    raw_path, _, query = path.partition("?")
    d = DEMO_AGENTS[0]
    now = str(time.time_ns() // 1_000_000)
    sig = auth.sign(
        d.api_secret, auth.canonical_string(d.api_key_id, now, now, method, raw_path, query, body)
    )
    headers = {
        "SC-Auth-Version": "2",
        "SC-Key": d.api_key_id,
        "SC-Nonce": now,
        "SC-Timestamp": now,
        "SC-Passphrase": d.api_passphrase,
        "SC-Signature": sig,
    }
    return " ".join(f"-H '{k}: {v}'" for k, v in headers.items())


async def _dashboard(ctx: AppContext) -> dict[str, Any] | None:
    """The agent the live dashboard acts as: demo trader A, when the demo data is seeded."""
    if ctx.seed_mode != "demo":
        return None
    d = DEMO_AGENTS[0]
    return {
        "apiKeyId": d.api_key_id,
        "apiSecret": d.api_secret,
        "apiPassphrase": d.api_passphrase,
        "account": d.account,
    }


family = Family(
    name=FAMILY,
    routers=[rest.router, ws.router],
    admin_router=admin.router,
    seed=_seed,
    start=_start,
    stop=_stop,
    wipe=_wipe,
    credentials=_credentials,
    token=_token,
    extra={"dashboard": _dashboard},
)
