"""Order Entry control routes (under /_admin, admin token): agents, funding, liquidity, books."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.engine.errors import InvalidInput
from app.routers.kit import answer, read_json
from app.routers.order_entry.deps import Service

router = APIRouter()


@router.get(
    "/fix/sessions",
    summary="The FIX drop-copy sessions: {senderCompId, apiKeyId, account, connected, nextOutSeq, nextInSeq, lastAccountSeq}",
)
async def fix_sessions(request: Request) -> Response:
    from app.routers.order_entry.fix_listener import make_engine

    listener = getattr(request.app.state, "listeners", {}).get("fix")
    engine = listener.engine if listener is not None else make_engine(request.app.state.ctx)
    return answer({"sessions": await engine.sessions()})


@router.post(
    "/order-entry/agents", summary="Create an agent → {apiKeyId, apiSecret, apiPassphrase, account, scopes}"
)
async def create_agent(svc: Service, request: Request) -> Response:
    body = await read_json(request, required=False)
    return answer(await svc.agents.create(body.get("scopes"), body.get("account")), 201)


@router.get("/order-entry/agents", summary="List agents (never their secrets)")
async def list_agents(svc: Service) -> Response:
    return answer({"agents": svc.agents.listing()})


@router.delete("/order-entry/agents/{api_key_id}", summary="Revoke an agent's key (takes effect at once)")
async def revoke_agent(svc: Service, api_key_id: str) -> Response:
    return answer(await svc.agents.revoke(api_key_id))


@router.post(
    "/order-entry/accounts/{account}/fund", summary='Credit balances {"balances":{"ASSET":int}} (added)'
)
async def fund(svc: Service, account: str, request: Request) -> Response:
    body = await read_json(request)
    return answer(await svc.fund(account, body.get("balances")))


@router.get("/order-entry/markets/{market}/book", summary="A market's aggregated book, best first")
async def book(svc: Service, market: str) -> Response:
    return answer(svc.queries.book(market))


@router.post("/order-entry/liquidity", summary='Switch the simulated liquidity provider {"enabled": bool}')
async def liquidity(svc: Service, request: Request) -> Response:
    enabled = (await read_json(request)).get("enabled")
    if not isinstance(enabled, bool):
        raise InvalidInput.field("enabled", "must be true or false")
    await svc.set_liquidity(enabled)
    await svc.drain()
    return answer({"enabled": svc.lp.enabled})
