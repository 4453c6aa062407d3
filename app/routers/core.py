"""Core routes: health."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter(tags=["core"])

_OK = b'{"status":"ok"}'


@router.get("/health", summary='Liveness: 200 {"status":"ok"}, no auth')
async def health() -> Response:
    return Response(_OK, media_type="application/json")
