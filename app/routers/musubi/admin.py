"""Musubi control routes (CONTRACT §5), mounted under /_admin behind the admin token."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app.engine.musubi import validate as v
from app.routers.kit import answer
from app.routers.musubi.deps import intent, json_body, service
from app.routing import plain_routes

router = APIRouter()


async def _body(request: Request) -> dict[str, object]:
    body: dict[str, object] = await json_body(request, required=False)
    return body


@router.post("/musubi/participants", status_code=201, summary="Create a participant {name, role}")
async def create_participant(request: Request) -> Response:
    body = await _body(request)
    p = await service(request).participants.create(body.get("name"), body.get("role"))
    return answer(
        {
            "client_id": p.client_id,
            "client_secret": p.client_secret,
            "party_id": p.party_id,
            "role": p.role,
            "name": p.name,
        },
        201,
    )


@router.get("/musubi/participants", summary="Every participant with its credentials")
async def list_participants(request: Request) -> Response:
    svc = service(request)
    return answer(
        {
            "participants": [
                {
                    "name": p.name,
                    "role": p.role,
                    "party_id": p.party_id,
                    "client_id": p.client_id,
                    "client_secret": p.client_secret,
                    "simulated": p.simulated,
                }
                for p in svc.memory.participants.values()
            ]
        }
    )


@router.post("/musubi/network", summary="Mark the settlement network up or down {available}")
async def network(request: Request) -> Response:
    body = await _body(request)
    available = body.get("available")
    if not isinstance(available, bool):
        raise v.invalid("available", "must be true or false")
    svc = service(request)
    svc.set_network(available)
    return answer({"available": svc.network_available})


@router.get("/musubi/network", summary="Is the settlement network up?")
async def network_get(request: Request) -> Response:
    return answer({"available": service(request).network_available})


@router.post(
    "/musubi/orders/{intent_id}/quotes",
    status_code=201,
    summary="Make the built-in simulated market maker quote now {fx_rate?, target_amount?, valid_until?}",
)
async def sim_quote(request: Request, intent_id: str) -> Response:
    body = await _body(request)
    svc = service(request)
    q = await svc.quotes.admin_quote(intent(intent_id), body)
    return answer(q.to_json(svc.clock.now_ms(), sender_side=True), 201)


plain_routes(router)
