"""Musubi orders: create validation, idempotency, proposal, cancel and quote accept, and every 400/409/502 path
with proof that a refused call changed nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import ADMIN_HEADERS, make_settings, running_app
from tests.musubi.helpers import Cast, advance, cast, create, fields, iso, now_ms, open_rfq, order_body, quote

pytestmark = pytest.mark.anyio


async def snapshot(client: Any, c: Cast, iid: str) -> dict[str, Any]:
    """Everything a refused call could have changed: the order, its quotes, its record, streams."""
    order = (await client.get(f"/api/v1/orders/{iid}", headers=c.si.h)).json()["data"]
    quotes = (await client.get(f"/api/v1/orders/{iid}/quotes", headers=c.si.h)).json()["data"]
    record = (await client.get(f"/api/v1/compliance/orders/{iid}", headers=c.si.h)).json()["data"][
        "transitions"
    ]
    heads = {}
    for w in c.all:
        heads[w.name] = (
            await client.get(f"/_admin/streams/musubi/{w.party_id}", headers=ADMIN_HEADERS)
        ).json()["head"]
    return {"order": order, "quotes": quotes, "record": record, "heads": heads}


async def test_create_validation_names_every_field(sqlite_url: str) -> None:
    """Every create field is validated strictly, one details entry per bad field, nothing created."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = await cast(r.client)
        bad = {
            "sender_custodian_party_id": c.ri.party_id,  # not a custodian
            "intent_signature": "",
            "receiver_party_id": "Bob::1220" + "0" * 64,  # no such participant
            "receiver_custodian_party_id": "not-a-party",
            "source_contract_id": 7,
            "source_currency": "EUR",
            "target_amount": 100000,  # a number, not a string
            "target_currency": "USDCx",
            "source_amount_max": "1.1234567",  # 7 decimals
            "kyc_aml_ref": "kyc-1",
            "jurisdiction_sender": "japan",
            "jurisdiction_receiver": "kr",
            "memo": ["x"],
        }
        resp = await r.client.post("/api/v1/orders", json=bad, headers=c.si.h)
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "VALIDATION_ERROR"
        assert sorted(fields(resp)) == sorted(set(bad) - {"target_currency"})
        cases = [
            ({"target_amount": "0"}, ["target_amount"]),
            ({"target_amount": "-5"}, ["target_amount"]),
            ({"target_amount": "1e5"}, ["target_amount"]),
            ({"source_currency": "USDCx"}, ["target_currency"]),
            ({"kyc_aml_ref": None}, ["kyc_aml_ref"]),
            ({"receiver_party_id": c.sc.party_id}, ["receiver_party_id"]),
        ]
        for over, expect in cases:
            resp = await r.client.post("/api/v1/orders", json=order_body(c, **over), headers=c.si.h)
            assert resp.status_code == 400 and fields(resp) == expect, over
        for raw in (b"[1,2]", b"nope", b""):
            resp = await r.client.post("/api/v1/orders", content=raw, headers=c.si.h)
            assert resp.status_code == 400 and fields(resp) == ["body"]
        listed = (await r.client.get("/api/v1/orders", headers=c.si.h)).json()
        assert listed["pagination"]["total_items"] == 0
        ok = await r.client.post(
            "/api/v1/orders", json=order_body(c, memo=None, target_amount="0.000001"), headers=c.si.h
        )
        assert ok.status_code == 201
        d = ok.json()["data"]
        for k in (
            "fx_rate",
            "source_amount_actual",
            "market_maker_party_id",
            "selected_quote_id",
            "quote_accepted_at",
            "transaction_hash",
            "settled_at",
            "failure_reason",
            "custodian_accepted_at",
        ):
            assert d[k] is None
        assert d["status"] == "PENDING" and d["sender_party_id"] == c.si.party_id
        assert d["created_at"].endswith("Z") and len(d["created_at"]) == 24


async def test_idempotency_key(db_url: str) -> None:
    """A repeated Idempotency-Key answers 201 with the same data and creates nothing new."""
    async with running_app(make_settings(db_url)) as r:
        c = await cast(r.client)
        h = {**c.si.h, "Idempotency-Key": "abc-1"}
        first = await r.client.post("/api/v1/orders", json=order_body(c), headers=h)
        again = await r.client.post("/api/v1/orders", json=order_body(c), headers=h)
        assert first.status_code == again.status_code == 201
        assert first.json()["data"] == again.json()["data"]
        assert again.json()["meta"]["request_id"] == again.headers["x-request-id"]
        other = await r.client.post(
            "/api/v1/orders", json=order_body(c), headers={**c.si.h, "Idempotency-Key": "abc-2"}
        )
        assert other.json()["data"]["intent_id"] != first.json()["data"]["intent_id"]
        total = (await r.client.get("/api/v1/orders", headers=c.si.h)).json()["pagination"]["total_items"]
        assert total == 2
        heads = (await r.client.get(f"/_admin/streams/musubi/{c.si.party_id}", headers=ADMIN_HEADERS)).json()[
            "head"
        ]
        assert heads == 2
    async with running_app(make_settings(db_url)) as r2:  # the key survives a restart
        c2 = c
        again = await r2.client.post("/api/v1/orders", json=order_body(c2), headers=h)
        assert again.status_code == 201 and again.json()["data"] == first.json()["data"]


async def test_failure_reasons_each_reachable(db_url: str) -> None:
    """NO_QUOTE, SLIPPAGE and TIMEOUT at expiry; TIMEOUT when the selected quote lapses; KYC_FAIL
    by reject; CANCELLED by cancel; REVERT when the network is down during EXECUTING."""
    async with running_app(make_settings(db_url)) as r:
        client = r.client
        c = await cast(client)
        no_quote = (await open_rfq(client, c))["intent_id"]
        slippage = (await open_rfq(client, c, source_amount_max="1000"))["intent_id"]
        await quote(client, c.mm1, slippage, "150")
        timeout = (await open_rfq(client, c))["intent_id"]
        await quote(client, c.mm1, timeout, "150", valid_ms=10_000)
        lapse = (await open_rfq(client, c))["intent_id"]
        ql = await quote(client, c.mm1, lapse, "150", valid_ms=10_000)
        r1 = await client.post(f"/api/v1/orders/{lapse}/quotes/{ql['quote_id']}/accept", headers=c.si.h)
        assert r1.json()["data"]["status"] == "QUOTED"
        kyc = (await create(client, c))["intent_id"]
        resp = await client.post(f"/api/v1/orders/{kyc}/reject", headers=c.sc.h)
        assert resp.status_code == 200 and resp.json()["data"]["failure_reason"] == "KYC_FAIL"
        cancelled = (await open_rfq(client, c))["intent_id"]
        qc = await quote(client, c.mm2, cancelled, "150")
        await client.post(f"/api/v1/orders/{cancelled}/quotes/{qc['quote_id']}/accept", headers=c.si.h)
        resp = await client.post(f"/api/v1/orders/{cancelled}/cancel", headers=c.si.h)
        assert resp.status_code == 200 and resp.json()["data"]["status"] == "FAILED"
        revert = (await open_rfq(client, c))["intent_id"]
        qr = await quote(client, c.mm2, revert, "150")
        await client.post(f"/api/v1/orders/{revert}/quotes/{qr['quote_id']}/accept", headers=c.sc.h)
        await advance(client, 1000)
        assert (await client.get(f"/api/v1/orders/{revert}", headers=c.si.h)).json()["data"][
            "status"
        ] == "EXECUTING"
        net = await client.post("/_admin/musubi/network", json={"available": False}, headers=ADMIN_HEADERS)
        assert net.json() == {"available": False}
        await advance(client, 4000)
        await client.post("/_admin/musubi/network", json={"available": True}, headers=ADMIN_HEADERS)
        await advance(client, 6000)  # the lapse at +10 s
        await advance(client, 300_000)  # every expires_at

        async def order(iid: str) -> dict[str, Any]:
            return dict((await client.get(f"/api/v1/orders/{iid}", headers=c.si.h)).json()["data"])

        got = {
            k: ((o := await order(i))["status"], o["failure_reason"])
            for k, i in {
                "no_quote": no_quote,
                "slippage": slippage,
                "timeout": timeout,
                "lapse": lapse,
                "kyc": kyc,
                "cancelled": cancelled,
                "revert": revert,
            }.items()
        }
        assert got == {
            "no_quote": ("EXPIRED", "NO_QUOTE"),
            "slippage": ("EXPIRED", "SLIPPAGE"),
            "timeout": ("EXPIRED", "TIMEOUT"),
            "lapse": ("EXPIRED", "TIMEOUT"),
            "kyc": ("FAILED", "KYC_FAIL"),
            "cancelled": ("FAILED", "CANCELLED"),
            "revert": ("FAILED", "REVERT"),
        }
        quotes = (await client.get(f"/api/v1/orders/{lapse}/quotes", headers=c.si.h)).json()["data"]
        assert [q["status"] for q in quotes] == ["EXPIRED"]
        quotes = (await client.get(f"/api/v1/orders/{cancelled}/quotes", headers=c.si.h)).json()["data"]
        assert [q["status"] for q in quotes] == ["REJECTED"]
        rec = (await client.get(f"/api/v1/compliance/orders/{revert}", headers=c.rc.h)).json()["data"][
            "transitions"
        ]
        assert [t["action"] for t in rec] == [
            "CREATED",
            "PROPOSAL_ACCEPTED",
            "QUOTE_SELECTED",
            "QUOTE_COSIGNED",
            "SETTLEMENT_STARTED",
            "SETTLEMENT_REVERTED",
        ]
        assert rec[1]["actor"] == c.sc.party_id and rec[0]["actor"] == c.si.party_id
        assert rec[-1]["actor"].startswith("Musubi::") and rec[-1]["to_status"] == "FAILED"
        stats = (await client.get("/api/v1/dashboard/stats", headers=c.si.h)).json()["data"]
        assert stats["counts_by_status"] == {
            "PENDING": 0,
            "QUOTED": 0,
            "EXECUTING": 0,
            "SETTLED": 0,
            "FAILED": 3,
            "EXPIRED": 4,
        }


async def test_quote_accept_conflicts(sqlite_url: str) -> None:
    """Every 409 of quote acceptance, each leaving the order, quotes, record and streams as they were."""
    async with running_app(make_settings(sqlite_url)) as r:
        client = r.client
        c = await cast(client)
        iid = (await open_rfq(client, c, source_amount_max="15100000"))["intent_id"]
        cheap = await quote(client, c.mm1, iid, "150", valid_ms=60_000)
        dear = await quote(client, c.mm2, iid, "152")  # 15,200,000 > source_amount_max
        short = await quote(client, c.mm2, iid, "149", valid_ms=1_000)
        await advance(client, 1_000)
        before = await snapshot(client, c, iid)
        resp = await client.post(f"/api/v1/orders/{iid}/quotes/{dear['quote_id']}/accept", headers=c.si.h)
        assert resp.status_code == 409
        assert resp.json()["error"]["details"] == [
            {"field": "source_amount", "reason": "SLIPPAGE: exceeds source_amount_max"}
        ]
        resp = await client.post(f"/api/v1/orders/{iid}/quotes/{short['quote_id']}/accept", headers=c.sc.h)
        assert resp.status_code == 409 and resp.json()["error"]["details"][0]["field"] == "valid_until"
        resp = await client.post(f"/api/v1/orders/{iid}/quotes/{uuid.uuid4()}/accept", headers=c.si.h)
        assert resp.status_code == 404
        assert await snapshot(client, c, iid) == before
        quotes = {q["quote_id"]: q["status"] for q in before["quotes"]}
        assert quotes[short["quote_id"]] == "EXPIRED" and quotes[dear["quote_id"]] == "PENDING"
        ok = await client.post(f"/api/v1/orders/{iid}/quotes/{cheap['quote_id']}/accept", headers=c.si.h)
        assert ok.status_code == 200 and ok.json()["data"]["selected_quote_id"] == cheap["quote_id"]
        before = await snapshot(client, c, iid)
        for who, qid, why in (
            (c.sc, dear["quote_id"], "another quote"),
            (c.si, cheap["quote_id"], "already selected"),
        ):
            resp = await client.post(f"/api/v1/orders/{iid}/quotes/{qid}/accept", headers=who.h)
            assert resp.status_code == 409 and why in resp.json()["error"]["message"]
        assert await snapshot(client, c, iid) == before
        assert {q["quote_id"]: q["status"] for q in before["quotes"]} == {
            cheap["quote_id"]: "ACCEPTED",
            dear["quote_id"]: "REJECTED",
            short["quote_id"]: "REJECTED",
        }
        cos = await client.post(f"/api/v1/orders/{iid}/quotes/{cheap['quote_id']}/accept", headers=c.sc.h)
        assert cos.status_code == 200 and cos.json()["data"]["quote_accepted_at"]
        again = await client.post(f"/api/v1/orders/{iid}/quotes/{cheap['quote_id']}/accept", headers=c.sc.h)
        assert again.status_code == 409
        await advance(client, 5000)
        assert (await client.get(f"/api/v1/orders/{iid}", headers=c.si.h)).json()["data"][
            "status"
        ] == "SETTLED"
        before = await snapshot(client, c, iid)
        for who, path in (
            (c.sc, f"quotes/{cheap['quote_id']}/accept"),
            (c.si, "cancel"),
            (c.sc, "accept"),
            (c.sc, "reject"),
        ):
            resp = await client.post(f"/api/v1/orders/{iid}/{path}", headers=who.h)
            assert resp.status_code == 409, path
            assert resp.json()["error"]["code"] == "CONFLICT"
        assert await snapshot(client, c, iid) == before


async def test_network_down_every_mutation_is_502_and_changes_nothing(db_url: str) -> None:
    """With the network down every mutating route answers 502 CANTON_ERROR; nothing changes;
    a co-signed order waits (no EXECUTING) and settles once the network is back."""
    async with running_app(make_settings(db_url)) as r:
        client = r.client
        c = await cast(client)
        iid = (await open_rfq(client, c))["intent_id"]
        q = await quote(client, c.mm1, iid, "150")
        pending = (await create(client, c))["intent_id"]
        await client.post(f"/api/v1/orders/{iid}/quotes/{q['quote_id']}/accept", headers=c.si.h)
        before = await snapshot(client, c, iid)
        before_pending = await snapshot(client, c, pending)
        await client.post("/_admin/musubi/network", json={"available": False}, headers=ADMIN_HEADERS)
        vu = iso(await now_ms(client) + 5000)
        calls = [
            (c.si, "/api/v1/orders", order_body(c)),
            (c.sc, f"/api/v1/orders/{pending}/accept", None),
            (c.sc, f"/api/v1/orders/{pending}/reject", None),
            (c.si, f"/api/v1/orders/{pending}/cancel", None),
            (c.sc, f"/api/v1/orders/{iid}/quotes/{q['quote_id']}/accept", None),
            (c.mm2, f"/api/v1/quote-requests/{iid}/quotes", {"fx_rate": "150", "valid_until": vu}),
        ]
        for who, path, body in calls:
            resp = await client.post(path, json=body, headers=who.h)
            assert resp.status_code == 502, path
            assert resp.json()["error"]["code"] == "CANTON_ERROR"
            assert resp.json()["meta"]["request_id"] == resp.headers["x-request-id"]
        assert await snapshot(client, c, iid) == before
        assert await snapshot(client, c, pending) == before_pending
        assert (await client.get("/api/v1/orders", headers=c.si.h)).json()["pagination"]["total_items"] == 2
        # reads still work; a co-signed order waits for the network
        resp = await client.post(f"/_admin/musubi/orders/{pending}/quotes", json={}, headers=ADMIN_HEADERS)
        assert resp.status_code == 502
        await client.post("/_admin/musubi/network", json={"available": True}, headers=ADMIN_HEADERS)
        await client.post(f"/api/v1/orders/{iid}/quotes/{q['quote_id']}/accept", headers=c.sc.h)
        await client.post("/_admin/musubi/network", json={"available": False}, headers=ADMIN_HEADERS)
        await advance(client, 2000)
        assert (await client.get(f"/api/v1/orders/{iid}", headers=c.si.h)).json()["data"][
            "status"
        ] == "QUOTED"
        await client.post("/_admin/musubi/network", json={"available": True}, headers=ADMIN_HEADERS)
        await advance(client, 0)
        assert (await client.get(f"/api/v1/orders/{iid}", headers=c.si.h)).json()["data"][
            "status"
        ] == "EXECUTING"
        await advance(client, 4000)
        assert (await client.get(f"/api/v1/orders/{iid}", headers=c.si.h)).json()["data"][
            "status"
        ] == "SETTLED"
