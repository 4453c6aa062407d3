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
