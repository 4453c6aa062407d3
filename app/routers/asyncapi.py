"""`GET /asyncapi.json`: an AsyncAPI 3.0 document for every WebSocket and SSE channel.

Each family contributes a fragment (`Family.asyncapi() -> {"channels", "operations",
"components"}`); this module adds the document's frame and the servers, and merges them.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.families import Registry

router = APIRouter(tags=["core"])


def fragments(registry: Registry) -> list[dict[str, Any]]:
    return [fam.asyncapi() for fam in registry if fam.asyncapi is not None]


def build(registry: Registry, host: str, port: int, broker_ws_port: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "refserver streams",
            "version": "0.1.0",
            "description": (
                "Every WebSocket and SSE channel of refserver's three API families. Account-scoped "
                "events are sequenced per stream (DB-first, contiguous from 1) and can be resumed: "
                "Musubi SSE with `Last-Event-ID`, broker WebSocket with `last_seq`, Order Entry "
                "WebSocket with `fromSeq`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "http": {"host": f"{host}:{port}", "protocol": "http", "description": "REST, SSE (Musubi)"},
            "ws": {
                "host": f"{host}:{port}",
                "protocol": "ws",
                "description": "Order Entry private WebSocket, broker WebSocket at /ws",
            },
            "broker-ws": {
                "host": f"{host}:{broker_ws_port}",
                "protocol": "ws",
                "description": "Broker WebSocket (own port)",
            },
        },
        "channels": {},
        "operations": {},
        "components": {},
    }
    for frag in fragments(registry):
        doc["channels"].update(frag.get("channels", {}))
        doc["operations"].update(frag.get("operations", {}))
        for section, items in frag.get("components", {}).items():
            doc["components"].setdefault(section, {}).update(items)
    return doc


@router.get("/asyncapi.json", summary="AsyncAPI 3.0 document for every WebSocket and SSE channel")
async def asyncapi(request: Request) -> Response:
    settings = request.app.state.settings
    ports = getattr(request.app.state, "ports", None) or {
        "http": settings.port,
        "broker_ws": settings.broker_ws_port,
    }
    doc = build(request.app.state.registry, settings.host, ports["http"], ports["broker_ws"])
    return Response(orjson.dumps(doc), media_type="application/json")
