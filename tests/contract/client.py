"""Acting as each family's demo identity against a live `--seed demo` server, and running the
request examples that /openapi.json publishes (with the prior steps they name)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx

ADMIN_TOKEN = "test-admin"
OE_SECRETS = {
    "spk_demo_trader_a": ("sps_demo_secret_trader_a", "spp_demo_pass_a"),
    "spk_demo_trader_b": ("sps_demo_secret_trader_b", "spp_demo_pass_b"),
    "spk_demo_reader_a": ("sps_demo_secret_reader_a", "spp_demo_pass_reader_a"),
}
_nonces = itertools.count(time.time_ns() // 1_000_000)


def sc_headers(key: str, method: str, path_and_query: str, body: bytes) -> dict[str, str]:
    """The six SC-* headers signing one request as demo agent `key` (CONTRACT §4.1)."""
    secret, passphrase = OE_SECRETS[key]
    path, _, query = path_and_query.partition("?")
    nonce, ts = str(next(_nonces)), str(time.time_ns() // 1_000_000)
    lines = [
        "SENTICORE-HMAC-V2",
        "sc-key:" + key,
        "sc-nonce:" + nonce,
        "sc-timestamp:" + ts,
        "method:" + method.upper(),
        "path:" + path,
        "query:" + "&".join(sorted(query.split("&")) if query else []),
        "body-sha256:" + hashlib.sha256(body).hexdigest(),
    ]
    sig = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha256).hexdigest()
    return {
        "SC-Auth-Version": "2",
        "SC-Key": key,
        "SC-Nonce": nonce,
        "SC-Timestamp": ts,
        "SC-Passphrase": passphrase,
        "SC-Signature": sig,
    }


def musubi_token(client: httpx.Client, client_id: str) -> str:
    r = client.post("/auth/token", json={"client_id": client_id, "client_secret": client_id + "-secret"})
    r.raise_for_status()
    token: str = r.json()["data"]["token"]
    return token


def broker_token(client: httpx.Client, login: str) -> str:
    r = client.post("/sign/in", json={"login": int(login), "password": f"demo-{login}"})
    r.raise_for_status()
    token: str = r.json()["__token"]
    return token


def auth_headers(
    client: httpx.Client, scheme: str | None, caller: str | None, method: str, url: str, body: bytes
) -> dict[str, str]:
    """The credentials an operation's security scheme asks for, as demo identity `caller`."""
    if scheme == "musubiBearer":
        return {"Authorization": "Bearer " + musubi_token(client, caller or "sender-institution")}
    if scheme == "brokerToken":
        return {"Authorization": broker_token(client, caller or "1001")}
    if scheme == "adminBearer":
        return {"Authorization": "Bearer " + ADMIN_TOKEN}
    if scheme == "scAuthVersion":
        return sc_headers(caller or "spk_demo_trader_a", method, url, body)
    return {}


def scheme_of(op: dict[str, Any]) -> str | None:
    sec = op.get("security") or []
    if not sec:
        return None
    names = list(sec[0])
    return "scAuthVersion" if "scAuthVersion" in names else names[0]


# --- prior steps named by `x-example-requires` --------------------------------------------------------
def _call(client: httpx.Client, scheme: str, caller: str, method: str, url: str, body: Any = None) -> Any:
    raw = httpx.Request(method, "http://x", json=body).content if body is not None else b""
    headers = auth_headers(client, scheme, caller, method, url, raw)
    if raw:
        headers["content-type"] = "application/json"
    r = client.request(method, url, content=raw, headers=headers)
    assert r.status_code < 300, (method, url, r.status_code, r.text)
    return r.json()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def prior_step(client: httpx.Client, name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Perform step `name` on the server; the values it yields fill the example's placeholders."""
    m = "musubiBearer"
    if name.startswith("musubi-"):
        create = doc["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"][
            "example"
        ]
        order = _call(client, m, "sender-institution", "POST", "/api/v1/orders", create)["data"]
        out: dict[str, Any] = {"intent_id": order["intent_id"]}
        if name == "musubi-order":
            return out
        _call(client, m, "custodian-a", "POST", f"/api/v1/orders/{out['intent_id']}/accept")
        now = client.get("/_admin/clock", headers={"Authorization": "Bearer " + ADMIN_TOKEN}).json()["now_ms"]
        out["valid_until"] = _iso(now + 60_000)
        if name == "musubi-rfq":
            return out
        quote = {"fx_rate": "150.25", "valid_until": out["valid_until"]}
        q = _call(
            client, m, "market-maker-a", "POST", f"/api/v1/quote-requests/{out['intent_id']}/quotes", quote
        )
        out["quote_id"] = q["data"]["quote_id"]
        if name == "musubi-quote":
            return out
        _call(
            client,
            m,
            "sender-institution",
            "POST",
            f"/api/v1/orders/{out['intent_id']}/quotes/{out['quote_id']}/accept",
        )
        return out  # musubi-settlement: the quote is selected, the market maker has won it
    b = "brokerToken"
    if name == "broker-position":
        return {
            "order": _call(
                client, b, "1001", "POST", "/trade/open", {"cmd": 0, "volume": 10, "symbol": "EURUSD"}
            )["id"]
        }
    if name == "broker-pending":
        row = _call(client, b, "1001", "GET", "/market/info?symbol=EURUSD")["rows"][0]
        bid = row[_call(client, b, "1001", "GET", "/market/info?symbol=EURUSD")["structure"].index("bid")]
        body = {"cmd": 2, "volume": 10, "symbol": "EURUSD", "open_price": round(bid * 0.9, 5)}
        return {"pending": _call(client, b, "1001", "POST", "/trade/open", body)["id"]}
    if name == "broker-script":
        return {"script": _call(client, b, "1001", "POST", "/script", {"name": "s", "script": "x"})["id"]}
    if name == "broker-alert":
        body = {"symbol": "EURUSD", "side": 0, "condition": 0, "target_price": 1.5}
        return {"alert": _call(client, b, "1001", "PUT", "/price_alert", body)["id"]}
    raise AssertionError(f"unknown prior step {name!r}")


_PLACEHOLDER = re.compile(r"^\{(\w+)\}$")


def fill(value: Any, values: dict[str, Any]) -> Any:
    """Replace `"{name}"` placeholders (keeping the value's type) throughout an example."""
    if isinstance(value, str):
        m = _PLACEHOLDER.match(value)
        if m and m.group(1) in values:
            return values[m.group(1)]
        return value
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


def example_request(
    client: httpx.Client, doc: dict[str, Any], path: str, method: str
) -> tuple[str, str, dict[str, str], bytes]:
    """The operation's published example as (method, url, headers, body), prior step done."""
    op = doc["paths"][path][method]
    values = prior_step(client, op["x-example-requires"], doc) if "x-example-requires" in op else {}
    url = path
    query: list[tuple[str, str]] = []
    for p in op.get("parameters", []):
        if "example" not in p:
            continue
        v = fill(p["example"], values)
        if p["in"] == "path":
            url = url.replace("{" + p["name"] + "}", str(v))
        elif p["in"] == "query":
            query.append((p["name"], str(v)))
    assert "{" not in url, f"{method.upper()} {path}: no example for a path parameter"
    if query:
        url += "?" + str(httpx.QueryParams(query))
    body = b""
    media = (op.get("requestBody") or {}).get("content", {}).get("application/json", {})
    if "example" in media:
        body = httpx.Request("POST", "http://x", json=fill(media["example"], values)).content
    headers = auth_headers(client, scheme_of(op), op.get("x-example-caller"), method, url, body)
    if body:
        headers["content-type"] = "application/json"
    return method.upper(), url, headers, body
