"""Every request example in /openapi.json succeeds against a live `--seed demo` server: it
answers the declared success status with a body that validates against the declared schema."""

from __future__ import annotations

import http.client
import json
from typing import Any

import httpx
import jsonschema
import pytest

from tests.contract.client import broker_token, example_request

# run last, in this order: chaos on and off again (it would disturb the examples of the families),
# then the ones that end the caller's session or wipe the state the other examples use
LAST = [
    ("post", "/_admin/chaos"),
    ("delete", "/_admin/chaos"),
    ("post", "/sign/out"),
    ("post", "/_admin/reset"),
]


def _validator(doc: dict[str, Any], ref: str) -> jsonschema.protocols.Validator:
    schema = {"$ref": ref, "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_every_example_succeeds_and_matches_its_schema(demo_server: str) -> None:
    failures: list[str] = []
    with httpx.Client(base_url=demo_server, timeout=30) as client:
        doc = client.get("/openapi.json").json()
        ops = [(p, m) for p, item in doc["paths"].items() for m in item]
        ops.sort(key=lambda pm: LAST.index((pm[1], pm[0])) + 1 if (pm[1], pm[0]) in LAST else 0)
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


def test_every_operation_with_a_body_answers_413_as_declared(demo_server: str) -> None:
    """A Content-Length over the limit is refused with 413 before the body is sent, on every
    operation that takes a body, with the headers and the error document the description declares."""
    doc = httpx.get(demo_server + "/openapi.json").json()
    host, port = demo_server.removeprefix("http://").split(":")
    failures = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            url = path.replace("{", "").replace("}", "")  # any id: the edge answers before routing
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                conn.putrequest(method.upper(), url)
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(2 * 1024 * 1024))
                conn.endheaders()  # and no body: the server must not wait for it
                r = conn.getresponse()
                status, headers, body = r.status, dict(r.getheaders()), r.read()
            finally:
                conn.close()
            declared = op["responses"]["413"]
            ref = declared["content"]["application/json"]["schema"]["$ref"]
            errors = [e.message for e in _validator(doc, ref).iter_errors(json.loads(body))]
            missing = [h for h in declared.get("headers", {}) if h.lower() not in map(str.lower, headers)]
            if status != 413 or errors or missing or b"PAYLOAD_TOO_LARGE" not in body:
                failures.append(f"{method.upper()} {path}: {status} {body[:200]!r} {errors[:2]} {missing}")
    assert not failures, "\n".join(failures)


def test_broker_settings_holding_any_json_match_the_declared_table(demo_server: str) -> None:
    """Regression (found by the fuzzer): a setting's value is any JSON, stored as given, and GET
    /settings once answered object and array values that the declared table refused."""
    with httpx.Client(base_url=demo_server, timeout=30) as c:
        doc = c.get("/openapi.json").json()
        auth = {"Authorization": broker_token(c, "1002")}
        values = {"layout": {"panes": [1, 2], "dark": True}, "recent": ["EURUSD", None], "zoom": 1.5}
        assert c.post("/settings", json=values, headers=auth).status_code == 200
        r = c.get("/settings", headers=auth)
    assert r.status_code == 200
    stored = {k: v for k, v in r.json()["rows"]}
    assert {k: stored.get(k) for k in values} == values
    ref = doc["paths"]["/settings"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ]
    assert not [e.message for e in _validator(doc, ref).iter_errors(r.json())]
