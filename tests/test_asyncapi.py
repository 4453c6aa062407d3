"""`/asyncapi.json` is a valid AsyncAPI 3.0 document."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import make_settings, running_app

pytestmark = pytest.mark.anyio

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json").read_text())


async def test_asyncapi_document_validates_against_the_official_schema(sqlite_url: str) -> None:
    """The served document passes the AsyncAPI 3.0.0 JSON Schema and names every family's channels."""
    async with running_app(make_settings(sqlite_url)) as r:
        resp = await r.client.get("/asyncapi.json")
        assert resp.status_code == 200
        doc = resp.json()
        jsonschema.validate(doc, SCHEMA)
        assert doc["asyncapi"] == "3.0.0"


def test_the_schema_rejects_a_broken_document() -> None:
    """The validator is live: a document without `info` fails."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"asyncapi": "3.0.0"}, SCHEMA)


def _payload_schema(doc: dict[str, object], name: str) -> dict[str, object]:
    """A message's payload schema with the document's components in scope for $refs."""
    comps = doc["components"]
    assert isinstance(comps, dict)
    payload = comps["messages"][name]["payload"]
    return {**payload, "components": comps}


async def test_real_broker_frames_match_the_documented_messages(sqlite_url: str) -> None:
    """Frames captured from a live broker WebSocket (auth reply, tick, balance, trade) validate
    against the payload schemas the served document gives for them."""
    import asyncio

    import httpx
    import websockets

    from tests.conftest import ADMIN_HEADERS, live_server

    async with (
        live_server(make_settings(sqlite_url, seed="demo")) as live,
        httpx.AsyncClient(base_url=live.base_url) as c,
    ):
        doc = (await c.get("/asyncapi.json")).json()
        token = (await c.post("/sign/in", json={"login": 1001, "password": "demo-1001"})).json()["__token"]
        async with websockets.connect(live.broker_ws_url) as ws:
            await ws.send(json.dumps({"authorization": token}))
            auth = json.loads(await asyncio.wait_for(ws.recv(), 5))
            jsonschema.validate(auth, _payload_schema(doc, "brokerAuthorizationReply"))
            await ws.send(json.dumps({"event": "subscribe", "data": ["eurusd"]}))
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "pong"
            await c.post(
                "/_admin/broker/prices",
                json={"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002},
                headers=ADMIN_HEADERS,
            )
            opened = await c.post(
                "/trade/open",
                json={"cmd": 0, "volume": 10, "symbol": "EURUSD"},
                headers={"Authorization": token},
            )
            assert opened.status_code == 200, opened.text
            seen: dict[str, list[object]] = {}
            async with asyncio.timeout(5):
                while not {"t", "o", "b"} <= set(seen):
                    frame = json.loads(await ws.recv())
                    seen.setdefault(frame[0], frame)
        for kind, message in (("t", "brokerTick"), ("o", "brokerTrade"), ("b", "brokerBalance")):
            jsonschema.validate(seen[kind], _payload_schema(doc, message))


async def test_every_message_has_an_example_that_its_schemas_accept(sqlite_url: str) -> None:
    """Every message of the served document (each channel's, by reference or inline) carries at
    least one example, and each example's payload and headers validate against the message's
    payload and headers schemas, so a mock or a generated test built from it sends real frames."""
    async with running_app(make_settings(sqlite_url)) as r:
        doc = (await r.client.get("/asyncapi.json")).json()
    comps = doc["components"]
    messages = dict(comps["messages"])
    for cname, channel in doc["channels"].items():
        for mname, msg in channel.get("messages", {}).items():
            if "$ref" not in msg:
                messages[f"{cname}.{mname}"] = msg
            else:
                assert msg["$ref"].removeprefix("#/components/messages/") in comps["messages"], msg
    assert len(messages) >= 24
    checker = jsonschema.FormatChecker()
    wrong: list[str] = []
    for name, msg in messages.items():
        examples = msg.get("examples") or []
        if not examples:
            wrong.append(f"{name}: no example")
        for i, ex in enumerate(examples):
            for part in ("payload", "headers"):
                if part not in ex:
                    if part == "payload":
                        wrong.append(f"{name}[{i}]: no payload")
                    continue
                schema = {**msg[part], "components": comps}
                validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
                wrong += [f"{name}[{i}].{part}: {e.message}" for e in validator.iter_errors(ex[part])]
    assert not wrong, wrong
