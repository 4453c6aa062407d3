"""The Order Entry AsyncAPI fragment: its references resolve, and real execution events (fills,
rejects, cancels) validate against the payload schemas it publishes."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from app.routers.order_entry.asyncapi import asyncapi
from tests.conftest import make_settings, running_app
from tests.order_entry.helpers import RICH, new_agent

pytestmark = pytest.mark.anyio


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def test_references_resolve() -> None:
    """Every $ref of the fragment's channels and operations points at something."""
    frag = asyncapi()
    for op in frag["operations"].values():
        _resolve(frag, op["channel"]["$ref"])
        for m in op["messages"]:
            msg = _resolve(frag, m["$ref"])
            _resolve(frag, msg["$ref"])
    for ch in frag["channels"].values():
        assert "{account}" in ch["address"]


async def test_real_events_match_the_schema(sqlite_url: str) -> None:
    """Events of every kind produced by the server validate against orderEntryEnvelope."""
    frag = asyncapi()
    schema = {"components": frag["components"], **frag["components"]["schemas"]["orderEntryEnvelope"]}
    async with running_app(make_settings(sqlite_url, oe_liquidity="on")) as r:
        a = await new_agent(r.client, fund=RICH)
        await a.place(1, "Bid", 65_100, 3, "gtc", "fill")
        await a.place(1, "Bid", 66_000, 1, "post_only", "po")
        await a.place(99, "Bid", 1, 1)
        o = await a.place(1, "Bid", 60_000, 1)
        await a.cancel(1, o["orderId"])
        await r.ctx.services["order-entry"].drain()
        events = await a.all_events()
        assert {e["data"]["status"] for e in events} >= {"NEW", "FILLED", "REJECTED", "CANCELED"}
        for e in events:
            jsonschema.validate(e, schema)
