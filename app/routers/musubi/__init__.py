"""The musubi family: its routers, control routes and lifecycle hooks."""

from __future__ import annotations

from typing import Any

from app.context import AppContext
from app.engine.musubi.service import DEMO_PARTICIPANTS, Musubi, demo_party_id
from app.families import Family
from app.routers.musubi import admin, api, sse


def _svc(ctx: AppContext) -> Musubi:
    svc = ctx.services.get("musubi")
    if svc is None:
        svc = ctx.services["musubi"] = Musubi(ctx)
    assert isinstance(svc, Musubi)
    return svc


async def _seed(ctx: AppContext, mode: str) -> None:
    await _svc(ctx).ensure_participants(mode)


async def _start(ctx: AppContext) -> None:
    await _svc(ctx).start()


async def _stop(ctx: AppContext) -> None:
    await _svc(ctx).stop()


async def _wipe(ctx: AppContext) -> None:
    await _svc(ctx).wipe()


async def _credentials(ctx: AppContext) -> list[str]:
    svc = _svc(ctx)
    lines = ["Musubi participants (POST /auth/token {client_id, client_secret}):"]
    for name, role, client_id, secret, _sim in DEMO_PARTICIPANTS:
        if demo_party_id(name) in svc.participants:
            lines.append(f"  {role:<13} {client_id:<21} {secret:<28} {demo_party_id(name)}")
    return lines


async def _dashboard(ctx: AppContext) -> dict[str, Any] | None:
    """The participant the live dashboard acts as: the demo sender institution, if seeded."""
    p = _svc(ctx).participants.get(demo_party_id("SenderInstitution"))
    if p is None:
        return None
    return {
        "name": p.name,
        "role": p.role,
        "client_id": p.client_id,
        "client_secret": p.client_secret,
        "party_id": p.party_id,
    }


async def _token(ctx: AppContext, args: list[str]) -> str:
    if not args:
        raise SystemExit("usage: refserver token musubi <client_id|name|party_id>")
    return _svc(ctx).mint_for(args[0])


family = Family(
    name="musubi",
    # SSE routes first: /api/v1/orders/events must win over /api/v1/orders/{intent_id}
    routers=[api.public, sse.router, api.router],
    admin_router=admin.router,
    seed=_seed,
    start=_start,
    stop=_stop,
    wipe=_wipe,
    credentials=_credentials,
    token=_token,
    extra={"dashboard": _dashboard},
)
