"""Shared helpers for the Musubi tests: participants, tokens, a valid order body."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import ADMIN_HEADERS


@dataclass
class Who:
    name: str
    role: str
    party_id: str
    client_id: str
    client_secret: str
    token: str = ""

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def participant(client: httpx.AsyncClient, name: str, role: str) -> Who:
    r = await client.post(
        "/_admin/musubi/participants", json={"name": name, "role": role}, headers=ADMIN_HEADERS
    )
    assert r.status_code == 201, r.text
    b = r.json()
    who = Who(name, role, b["party_id"], b["client_id"], b["client_secret"])
    t = await client.post(
        "/auth/token", json={"client_id": who.client_id, "client_secret": who.client_secret}
    )
    assert t.status_code == 200, t.text
    who.token = t.json()["data"]["token"]
    return who


@dataclass
class Cast:
    si: Who  # sender institution
    ri: Who  # receiver institution
    sc: Who  # sender custodian
    rc: Who  # receiver custodian
    mm1: Who
    mm2: Who
    oi: Who  # an outsider institution
    oc: Who  # an outsider custodian

    @property
    def all(self) -> list[Who]:
        return [self.si, self.ri, self.sc, self.rc, self.mm1, self.mm2, self.oi, self.oc]


async def cast(client: httpx.AsyncClient) -> Cast:
    return Cast(
        si=await participant(client, "SenderInst", "institution"),
        ri=await participant(client, "ReceiverInst", "institution"),
        sc=await participant(client, "CustA", "custodian"),
        rc=await participant(client, "CustB", "custodian"),
        mm1=await participant(client, "MakerOne", "market-maker"),
        mm2=await participant(client, "MakerTwo", "market-maker"),
        oi=await participant(client, "OtherInst", "institution"),
        oc=await participant(client, "OtherCust", "custodian"),
    )


def order_body(c: Cast, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sender_custodian_party_id": c.sc.party_id,
        "intent_signature": "3045022100ab",
        "receiver_party_id": c.ri.party_id,
        "receiver_custodian_party_id": c.rc.party_id,
        "source_contract_id": "00a3f7c21d83#0",
        "source_currency": "JPYSC0",
        "target_amount": "100000",
        "target_currency": "USDCx",
        "source_amount_max": "15500000",
        "kyc_aml_ref": str(uuid.uuid4()),
        "jurisdiction_sender": "JP",
        "jurisdiction_receiver": "KR",
        "memo": "invoice 42",
    }
    body.update(over)
    return body


async def advance(client: httpx.AsyncClient, ms: int) -> dict[str, Any]:
    r = await client.post("/_admin/clock", json={"action": "advance", "ms": ms}, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def now_ms(client: httpx.AsyncClient) -> int:
    r = await client.get("/_admin/clock", headers=ADMIN_HEADERS)
    return int(r.json()["now_ms"])


def iso(ms: int) -> str:
    from app.clock import iso_ms

    return iso_ms(ms)


async def create(client: httpx.AsyncClient, c: Cast, **over: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/orders", json=order_body(c, **over), headers=c.si.h)
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


async def open_rfq(client: httpx.AsyncClient, c: Cast, **over: Any) -> dict[str, Any]:
    o = await create(client, c, **over)
    r = await client.post(f"/api/v1/orders/{o['intent_id']}/accept", headers=c.sc.h)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def quote(
    client: httpx.AsyncClient, mm: Who, intent_id: str, fx: str = "150.5", valid_ms: int = 60_000
) -> dict[str, Any]:
    vu = iso(await now_ms(client) + valid_ms)
    r = await client.post(
        f"/api/v1/quote-requests/{intent_id}/quotes", json={"fx_rate": fx, "valid_until": vu}, headers=mm.h
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


def fields(resp: httpx.Response) -> list[str]:
    """The fields an error answer's `details` name."""
    return [d["field"] for d in resp.json()["error"]["details"]]
