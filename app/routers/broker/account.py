"""Account: profile and balance snapshot."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from app.engine.broker.model import BALANCE_COLUMNS, PROFILE_COLUMNS
from app.routers.broker import deps
from app.routers.broker.deps import Auth, body_of, service, table

router = deps.router("broker: account")


@router.get("/account", summary="The caller's profile (one row)")
async def account(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    profile = caller.account.profile()
    return table(PROFILE_COLUMNS, [[profile[c] for c in PROFILE_COLUMNS]])


@router.get("/account/balance", summary="Balance, equity, margin, free margin, margin level, floating profit")
async def balance(request: Request, caller: Auth) -> Response:
    await body_of(request, caller)
    return table(BALANCE_COLUMNS, [service(request).margin.balance_row(caller.account)])
