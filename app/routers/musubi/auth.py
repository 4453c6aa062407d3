"""Musubi auth routes (CONTRACT §2.1): the token exchange and who a token speaks for."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from app.engine.musubi.model import OPERATOR_PARTY_ID
from app.routers.musubi.deps import (
    ANYONE,
    BEARER,
    STR,
    body_doc,
    caller,
    envelope,
    json_body,
    secure,
    service,
)
from app.routing import plain

public = APIRouter(tags=["musubi"])
router = APIRouter(tags=["musubi"])

_TOKEN_DOC = body_doc(
    ["client_id", "client_secret"],
    {"client_id": STR, "client_secret": STR},
    {"client_id": "sender-institution", "client_secret": "sender-institution-secret"},
)


@plain
@public.post("/auth/token", summary="Exchange client credentials for a JWT (HS256)", openapi_extra=_TOKEN_DOC)
async def token(request: Request) -> Response:
    body: Any
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        # OAuth-style clients post the same two fields as a form
        body = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    else:
        body = await json_body(request)
    tok, ttl, p = service(request).participants.issue_token(body.get("client_id"), body.get("client_secret"))
    request.scope.setdefault("state", {})["caller"] = p.party_id
    return envelope(request, {"token": tok, "expires_in": ttl, "canton_party_id": p.party_id, "role": p.role})


@router.get("/whoami", summary="Who the token speaks for (older form)", dependencies=[Depends(BEARER)])
async def whoami_v0(request: Request) -> Response:
    p = caller(request, ANYONE)
    return envelope(request, {"canton_party_id": p.party_id, "role": p.role})


@router.get("/api/v1/whoami", summary="Who the token speaks for (schema v2)")
async def whoami(request: Request) -> Response:
    p = caller(request, ANYONE)
    return envelope(
        request,
        {
            "party_id": p.party_id,
            "operator_party_id": OPERATOR_PARTY_ID,
            "role": p.role,
            "participant_id": "",
            "schema_version": "v2",
        },
    )


secure(router)
