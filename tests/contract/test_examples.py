"""Every request example in /openapi.json succeeds against a live `--seed demo` server: it
answers the declared success status with a body that validates against the declared schema."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from tests.contract.client import example_request

# run last: they end the caller's session or wipe the state the other examples use
LAST = {("post", "/sign/out"), ("post", "/_admin/reset")}


def _validator(doc: dict[str, Any], ref: str) -> jsonschema.protocols.Validator:
    schema = {"$ref": ref, "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_every_example_succeeds_and_matches_its_schema(demo_server: str) -> None:
    failures: list[str] = []
    with httpx.Client(base_url=demo_server, timeout=30) as client:
        doc = client.get("/openapi.json").json()
        ops = [(p, m) for p, item in doc["paths"].items() for m in item]
        ops.sort(key=lambda pm: (pm[1], pm[0]) in LAST)
        for path, method in ops:
            op = doc["paths"][path][method]
            status = next(s for s in op["responses"] if s.startswith("2"))
            content = op["responses"][status]["content"]
            verb, url, headers, body = example_request(client, doc, path, method)
            if "text/event-stream" in content:
                with client.stream(verb, url, headers=headers) as r:
                    ok = r.status_code == int(status) and r.headers["content-type"].startswith(
                        "text/event-stream"
                    )
                    if not ok:
                        failures.append(f"{verb} {url}: {r.status_code} {r.headers.get('content-type')}")
                continue
            r = client.request(verb, url, headers=headers, content=body)
            if r.status_code != int(status):
                failures.append(f"{verb} {url}: {r.status_code} (declared {status}) {r.text[:300]}")
                continue
            missing = [h for h in op["responses"][status].get("headers", {}) if h not in r.headers]
            if missing:
                failures.append(f"{verb} {url}: declared headers missing: {missing}")
            ref = content["application/json"]["schema"]["$ref"]
            errors = [e.message for e in _validator(doc, ref).iter_errors(r.json())]
            if errors:
                failures.append(f"{verb} {url}: {errors[:3]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["/api/v1/orders", "/trade/open", "/api/v1/order-entry/orders"])
def test_examples_exist_for_the_main_writes(demo_server: str, path: str) -> None:
    doc = httpx.get(demo_server + "/openapi.json").json()
    op = doc["paths"][path]["post"]
    assert op["requestBody"]["content"]["application/json"]["example"]
