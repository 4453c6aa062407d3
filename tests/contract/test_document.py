"""/openapi.json is a contract (CONTRACT §0): every operation has a real success schema, its
errors, its security scheme, tags and a description, and no FastAPI default 422."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import Settings
from app.main import create_app

SCHEMES = {"musubiBearer", "brokerToken", "adminBearer", "scAuthVersion", "scKey", "scPassphrase"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return create_app(Settings(database_url="sqlite://", seed="none")).openapi()


def _ops(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _has_properties(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(doc, schema)
    if "properties" in schema:
        return bool(schema["properties"])
    branches = schema.get("anyOf") or schema.get("oneOf") or []
    return bool(branches) and all(_has_properties(doc, b) for b in branches)


def test_every_operation_declares_a_success_schema_with_properties(doc: dict[str, Any]) -> None:
    """A mock or client generated from the file gets the real fields, never `null`."""
    missing = []
    for method, path, op in _ops(doc):
        ok = [s for s in op["responses"] if s.startswith("2")]
        content = op["responses"][ok[0]].get("content", {}) if ok else {}
        if not content or not all(
            _has_properties(doc, c["schema"]) for c in content.values() if "$ref" in c["schema"]
        ):
            missing.append(f"{method} {path}")
        elif not any("$ref" in c["schema"] for c in content.values()):
            missing.append(f"{method} {path}")
    assert not missing, missing


def test_no_422_anywhere(doc: dict[str, Any]) -> None:
    """The server answers bad input with 400 in the family's shape, so 422 is never declared."""
    assert not [f"{m} {p}" for m, p, op in _ops(doc) if "422" in op["responses"]]
    assert "HTTPValidationError" not in doc["components"].get("schemas", {})


def test_the_four_kinds_of_security_scheme_are_declared(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["musubiBearer"] == {**schemes["musubiBearer"], "type": "http", "scheme": "bearer"}
    assert schemes["brokerToken"]["type"] == "apiKey" and schemes["brokerToken"]["name"] == "Authorization"
    assert schemes["adminBearer"]["scheme"] == "bearer"
    headers = {
        s["name"] for s in schemes.values() if s.get("type") == "apiKey" and s["name"].startswith("SC-")
    }
    assert headers == {
        "SC-Key",
        "SC-Passphrase",
        "SC-Timestamp",
        "SC-Nonce",
        "SC-Signature",
        "SC-Auth-Version",
    }


def test_secured_operations_name_their_scheme_and_declare_401(doc: dict[str, Any]) -> None:
    open_routes = {"/health", "/asyncapi.json", "/auth/token", "/sign/in", "/sign/up"}
    wrong = []
    for method, path, op in _ops(doc):
        if path in open_routes:
            continue
        sec = op.get("security") or []
        if not sec or not set(sec[0]) & SCHEMES or "401" not in op["responses"]:
            wrong.append(f"{method} {path}")
    assert not wrong, wrong
    oe = doc["paths"]["/api/v1/order-entry/markets"]["get"]["security"]
    assert len(oe) == 1 and len(oe[0]) == 6, "the six SC-* headers are required together"


def test_operations_with_a_path_id_declare_404(doc: dict[str, Any]) -> None:
    """…except Order Entry account paths, which answer another account with 403 (never 404)."""
    wrong = []
    for method, path, op in _ops(doc):
        if "{" not in path:
            continue
        if "404" in op["responses"]:
            continue
        if "FORBIDDEN" in op["responses"].get("403", {}).get("x-error-codes", []) and "{account}" in path:
            continue
        wrong.append(f"{method} {path}")
    assert not wrong, wrong


def test_errors_use_the_family_error_schema_and_name_their_codes(doc: dict[str, Any]) -> None:
    expected = {
        "/api/v1/orders": "MusubiError",
        "/account": "BrokerError",
        "/api/v1/order-entry/markets": "OrderEntryError",
    }
    for path, name in expected.items():
        for op in doc["paths"][path].values():
            r401 = op["responses"]["401"]
            assert r401["content"]["application/json"]["schema"]["$ref"].endswith("/" + name)
            assert r401["x-error-codes"]
    admin = doc["paths"]["/_admin/clock"]["get"]["responses"]["401"]
    assert admin["content"]["application/json"]["schema"]["$ref"].endswith("/CoreError")


def test_every_operation_has_tags_and_a_description(doc: dict[str, Any]) -> None:
    assert not [f"{m} {p}" for m, p, op in _ops(doc) if not op.get("tags") or not op.get("description")]


def test_sc_headers_are_a_security_scheme_not_parameters(doc: dict[str, Any]) -> None:
    params = doc["paths"]["/api/v1/order-entry/markets"]["get"].get("parameters", [])
    assert not [p for p in params if p["name"].lower().startswith("sc-")]


def test_the_create_order_example_names_real_demo_parties(doc: dict[str, Any]) -> None:
    """Regression: the example once held truncated party ids, so "Try it out" answered 400."""
    ex = doc["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["example"]
    for field in ("sender_custodian_party_id", "receiver_party_id", "receiver_custodian_party_id"):
        _, _, digest = ex[field].partition("::")
        assert len(digest) == 68 and digest.startswith("1220"), field


def test_response_headers_are_declared_where_the_server_sends_them(doc: dict[str, Any]) -> None:
    """Musubi answers carry X-Request-ID (success and error); its control routes do not."""
    op = doc["paths"]["/api/v1/orders"]["get"]["responses"]
    assert "X-Request-ID" in op["200"]["headers"] and "X-Request-ID" in op["401"]["headers"]
    assert "headers" not in doc["paths"]["/_admin/musubi/network"]["get"]["responses"]["200"]
    limits = doc["paths"]["/api/v1/order-entry/limits"]["get"]["responses"]["200"]
    assert "x-bsl-contract" in limits["headers"]
