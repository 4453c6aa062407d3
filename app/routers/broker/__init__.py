"""The broker family: its routers, control routes and lifecycle hooks."""

from __future__ import annotations

from typing import Any

from app.context import AppContext
from app.engine.broker.service import DEMO_USERS, BrokerService
from app.families import Family
from app.routers.broker import account, admin, alerts, market, scripts, sign, trade, ws


def _service(ctx: AppContext) -> BrokerService:
    svc = ctx.services.get("broker")
    if svc is None:
        svc = BrokerService(ctx)
        ctx.services["broker"] = svc
    assert isinstance(svc, BrokerService)
    return svc


async def seed(ctx: AppContext, mode: str) -> None:
    svc = _service(ctx)
    await svc.ensure_loaded()
    if mode == "demo":
        await svc.seed_demo()


async def start(ctx: AppContext) -> None:
    await _service(ctx).start()


async def stop(ctx: AppContext) -> None:
    svc = ctx.services.get("broker")
    if isinstance(svc, BrokerService):
        await svc.stop()


async def wipe(ctx: AppContext) -> None:
    await _service(ctx).wipe()


async def credentials(ctx: AppContext) -> list[str]:
    svc = _service(ctx)
    lines = []
    for d in DEMO_USERS:
        if d["login"] in svc.accounts:
            lines.append(
                f"broker: login {d['login']} password {d['password']} "
                f"({d['balance']:,.0f} {d['currency']}, 1:{d['leverage']})"
            )
    return lines


async def token(ctx: AppContext, args: list[str]) -> str:
    """`refserver token broker <login>`: a token for any existing login, no password needed."""
    svc = _service(ctx)
    await svc.ensure_loaded()
    if svc.tokens is None:
        await svc.start()
        await svc.stop()
    if not args:
        raise SystemExit("usage: refserver token broker <login>")
    acc = svc.accounts.get(int(args[0]))
    if acc is None:
        raise SystemExit(f"no broker login {args[0]}")
    return svc.mint(acc)


async def dashboard(ctx: AppContext) -> dict[str, Any] | None:
    """The login the live dashboard acts as: the first demo user, when it is seeded."""
    d = DEMO_USERS[0]
    if d["login"] not in _service(ctx).accounts:
        return None
    return {"login": d["login"], "password": d["password"]}


family = Family(
    name="broker",
    routers=[
        sign.router,
        account.router,
        trade.router,
        market.router,
        scripts.router,
        alerts.router,
        ws.router,
    ],
    admin_router=admin.router,
    seed=seed,
    start=start,
    stop=stop,
    wipe=wipe,
    credentials=credentials,
    token=token,
    extra={"dashboard": dashboard},
)
