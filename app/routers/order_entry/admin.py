"""Order Entry control routes (under /_admin, admin token): agents, funding, liquidity."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Body
from starlette.responses import Response

from app.engine.errors import InvalidInput
from app.routers.order_entry.deps import Service

router = APIRouter()


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


@router.post(
    "/order-entry/agents", summary="Create an agent → {apiKeyId, apiSecret, apiPassphrase, account, scopes}"
)
async def create_agent(svc: Service, body: Any = Body(None)) -> Response:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput.field("body", "must be a JSON object {scopes?, account?}")
    out = await svc.create_agent(body.get("scopes"), body.get("account"))
    return _json(out, 201)


@router.get("/order-entry/agents", summary="List agents (never their secrets)")
async def list_agents(svc: Service) -> Response:
    agents = [
        {
            "apiKeyId": a.api_key_id,
            "account": a.account,
            "scopes": sorted(a.scopes),
            "revoked": a.revoked,
            "demo": a.demo,
        }
        for a in svc.agents.values()
    ]
    return _json({"agents": agents})


@router.delete("/order-entry/agents/{api_key_id}", summary="Revoke an agent's key (takes effect at once)")
async def revoke_agent(svc: Service, api_key_id: str) -> Response:
    return _json(await svc.revoke_agent(api_key_id))


@router.post(
    "/order-entry/accounts/{account}/fund", summary='Credit balances {"balances":{"ASSET":int}} (added)'
)
async def fund(svc: Service, account: str, body: Any = Body(...)) -> Response:
    if not isinstance(body, dict):
        raise InvalidInput.field("body", 'must be a JSON object {"balances": {...}}')
    return _json(await svc.fund(account, body.get("balances")))


@router.get("/order-entry/markets/{market}/book", summary="A market's aggregated book, best first")
async def book(svc: Service, market: str) -> Response:
    return _json(svc.book_view(market))


@router.post("/order-entry/liquidity", summary='Switch the simulated liquidity provider {"enabled": bool}')
async def liquidity(svc: Service, body: Any = Body(...)) -> Response:
    enabled = body.get("enabled") if isinstance(body, dict) else None
    if not isinstance(enabled, bool):
        raise InvalidInput.field("enabled", "must be true or false")
    await svc.set_liquidity(enabled)
    await svc.drain()
    return _json({"enabled": svc.liquidity})
