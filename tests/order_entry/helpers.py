"""Test-side Order Entry client, with its own SC-* HMAC-V2 signer written from CONTRACT §4.1's
text (it shares no code with the server's auth module)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.conftest import ADMIN_HEADERS

_nonces = itertools.count(int(time.time() * 1000) * 1000)


def sign_request(
    secret: str, key: str, nonce: str, timestamp: str, method: str, path: str, query: str, body: bytes
) -> str:
    """hex HMAC-SHA256(apiSecret, the 8 canonical lines joined by \\n)."""
    items = sorted(query.split("&")) if query else []
    lines = [
        "SENTICORE-HMAC-V2",
        "sc-key:" + key,
        "sc-nonce:" + nonce,
        "sc-timestamp:" + timestamp,
        "method:" + method.upper(),
        "path:" + path,
        "query:" + "&".join(items),
        "body-sha256:" + hashlib.sha256(body).hexdigest(),
    ]
    return hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha256).hexdigest()


@dataclass
class Creds:
    api_key_id: str
    api_secret: str
    api_passphrase: str
    account: str
    scopes: list[str]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Creds:
        return cls(d["apiKeyId"], d["apiSecret"], d["apiPassphrase"], d["account"], d["scopes"])


def signed_headers(
    creds: Creds,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    *,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    nonce = nonce or str(next(_nonces))
    ts = str(timestamp if timestamp is not None else time.time_ns() // 1_000_000)
    return {
        "SC-Auth-Version": "2",
        "SC-Key": creds.api_key_id,
        "SC-Nonce": nonce,
        "SC-Timestamp": ts,
        "SC-Passphrase": creds.api_passphrase,
        "SC-Signature": sign_request(
            creds.api_secret, creds.api_key_id, nonce, ts, method, path, query, body
        ),
        "Content-Type": "application/json",
    }


class OE:
    """An agent talking to the server through an httpx client (ASGI or real HTTP)."""

    def __init__(self, client: httpx.AsyncClient, creds: Creds) -> None:
        self.client = client
        self.creds = creds
        self.payload_nonce = 0

    @property
    def account(self) -> str:
        return self.creds.account

    async def request(self, method: str, path: str, query: str = "", body: bytes = b"") -> httpx.Response:
        url = path + ("?" + query if query else "")
        headers = signed_headers(self.creds, method, path, query, body)
        return await self.client.request(method, url, content=body, headers=headers)

    async def get(self, path: str, query: str = "") -> httpx.Response:
        return await self.request("GET", path, query)

    def action(self, tag: str, fields: dict[str, Any], nonce: int | None = None) -> dict[str, Any]:
        if nonce is None:
            self.payload_nonce += 1
            nonce = self.payload_nonce
        return {
            "payload": {
                "account": self.account,
                "nonce": nonce,
                "ts": int(time.time() * 1000),
                "action": {tag: fields},
            },
            "signature": {"scheme": "EcdsaSecp256k1", "bytes": "0x" + "ab" * 65},
        }

    async def batch(
        self, actions: list[dict[str, Any]], key: str | None = None, path: str = "/api/v1/order-entry/orders"
    ) -> httpx.Response:
        body: dict[str, Any] = {"version": 1, "actions": actions}
        if key is not None:
            body["idempotencyKey"] = key
        return await self.request("POST", path, body=orjson.dumps(body))

    async def place(
        self, market: int, side: str, price: int, qty: int, tif: str = "gtc", coid: str | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "market": market,
            "side": side,
            "price": price,
            "qty": qty,
            "timeInForce": tif,
        }
        if coid is not None:
            fields["clientOrderId"] = coid
        resp = await self.batch([self.action("SpotPlaceOrder", fields)])
        assert resp.status_code == 200, resp.text
        result: dict[str, Any] = resp.json()["results"][0]
        return result

    async def cancel(self, market: int, order_id: str) -> dict[str, Any]:
        resp = await self.batch([self.action("SpotCancelOrder", {"market": market, "orderId": order_id})])
        assert resp.status_code == 200, resp.text
        result: dict[str, Any] = resp.json()["results"][0]
        return result

    async def executions(self, from_seq: int = 1, limit: int | None = None) -> dict[str, Any]:
        q = f"fromSeq={from_seq}" + (f"&limit={limit}" if limit else "")
        resp = await self.get(f"/api/v1/order-entry/accounts/{self.account}/executions", q)
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        return out

    async def all_events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        nxt = 1
        while True:
            page = await self.executions(nxt, 10_000)
            out.extend(page["events"])
            if not page["hasMore"]:
                return out
            nxt = page["nextSeq"]

    async def open_orders(self) -> dict[str, Any]:
        resp = await self.get(f"/api/v1/order-entry/accounts/{self.account}/open-orders")
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        return out

    async def bootstrap(self) -> dict[str, Any]:
        resp = await self.get(f"/api/v1/accounts/{self.account}/bootstrap")
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        return out

    async def ws_token(self) -> str:
        resp = await self.request("POST", "/api/v1/ws/token")
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["token"]
        return token


async def new_agent(
    client: httpx.AsyncClient,
    *,
    scopes: list[str] | None = None,
    account: str | None = None,
    fund: dict[str, int] | None = None,
) -> OE:
    body: dict[str, Any] = {}
    if scopes is not None:
        body["scopes"] = scopes
    if account is not None:
        body["account"] = account
    resp = await client.post("/_admin/order-entry/agents", json=body, headers=ADMIN_HEADERS)
    assert resp.status_code == 201, resp.text
    creds = Creds.from_json(resp.json())
    if fund:
        r = await client.post(
            f"/_admin/order-entry/accounts/{creds.account}/fund",
            json={"balances": fund},
            headers=ADMIN_HEADERS,
        )
        assert r.status_code == 200, r.text
    return OE(client, creds)


RICH = {"USDC": 10**12, "BTC": 10**6, "ETH": 10**7, "SOL": 10**8, "AVAX": 10**8}


async def settle(r: Any) -> None:
    await r.ctx.services["order-entry"].drain()


async def events_of(a: OE) -> list[dict[str, Any]]:
    return [e["data"] for e in await a.all_events()]


def place(
    a: OE, market: int, side: str, price: int, qty: int, tif: str = "gtc", coid: str | None = None
) -> dict[str, Any]:
    f: dict[str, Any] = {"market": market, "side": side, "price": price, "qty": qty, "timeInForce": tif}
    if coid is not None:
        f["clientOrderId"] = coid
    return a.action("SpotPlaceOrder", f)
