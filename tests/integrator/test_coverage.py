"""Client coverage (CONTRACT §7.1): the recorder against the catalogue, over the real app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_HEADERS, make_settings, running_app
from tests.musubi.helpers import advance, cast, order_body, participant

pytestmark = pytest.mark.anyio


async def _cov(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    r = await client.get("/_admin/coverage", params=params, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _op(fam: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return next(o for o in fam["operations"] if o["method"] == method and o["path"] == path)


async def test_operations_statuses_and_codes_per_caller(db_url: str) -> None:
    """A caller's calls are counted per route template with each status and error code; the
    catalogue lists every family operation and channel, and what was not met is `missing`."""
    async with running_app(make_settings(db_url)) as r:
        si = await participant(r.client, "SenderInst", "institution")
        other = await participant(r.client, "OtherInst", "institution")
        assert (await r.client.get("/api/v1/orders", headers=si.h)).status_code == 200
        assert (await r.client.get("/api/v1/orders/nope", headers=si.h)).status_code == 404
        assert (await r.client.get("/api/v1/orders", headers=other.h)).status_code == 200

        cov = await _cov(r.client, family="musubi", caller=si.party_id)
        assert list(cov["families"]) == ["musubi"]
        assert cov["callers"] == [si.party_id]
        fam = cov["families"]["musubi"]
        listed = _op(fam, "GET", "/api/v1/orders")
        assert listed["calls"] == 1 and listed["statuses"] == {"200": 1}
        one = _op(fam, "GET", "/api/v1/orders/{intent_id}")
        assert one["statuses"] == {"404": 1} and one["codes"] == {"NOT_FOUND": 1}
        assert "POST /api/v1/orders" in fam["missing"]
        assert "GET /api/v1/orders" not in fam["missing"]
        assert any(m.startswith("subscribe ") for m in fam["missing"])
        assert "recovery idempotent_retry" in fam["missing"]
        assert fam["of"] == fam["met"] + len(fam["missing"])
        assert fam["met"] >= 3  # /auth/token, GET /api/v1/orders, GET /api/v1/orders/{intent_id}

        everyone = await _cov(r.client)
        assert set(everyone["families"]) == {"musubi", "broker", "order-entry"}
        assert {si.party_id, other.party_id} <= set(everyone["callers"])
        assert _op(everyone["families"]["musubi"], "GET", "/api/v1/orders")["calls"] == 2
        assert everyone["of"] == sum(f["of"] for f in everyone["families"].values())


async def test_reset_clears_coverage(sqlite_url: str) -> None:
    """After `POST /_admin/reset` nothing recorded before is reported."""
    async with running_app(make_settings(sqlite_url)) as r:
        si = await participant(r.client, "SenderInst", "institution")
        await r.client.get("/api/v1/orders", headers=si.h)
        assert (await _cov(r.client, family="musubi"))["families"]["musubi"]["met"] > 0
        assert (
            await r.client.post("/_admin/reset", json={"seed": "none"}, headers=ADMIN_HEADERS)
        ).status_code == 200
        cov = await _cov(r.client, family="musubi")
        assert cov["callers"] == [] and cov["families"]["musubi"]["met"] == 0


async def test_bad_family_filter_is_400(sqlite_url: str) -> None:
    """An unknown family names the field instead of answering an empty report."""
    async with running_app(make_settings(sqlite_url)) as r:
        resp = await r.client.get("/_admin/coverage", params={"family": "nope"}, headers=ADMIN_HEADERS)
        assert resp.status_code == 400 and "family" in resp.text


async def test_recovery_paths_seen_over_http(db_url: str) -> None:
    """Idempotent retry (same key twice), a 2xx after an injected fault on the same operation,
    and a 2xx with a new token after a 401 for an expired one are met — and only then."""
    async with running_app(make_settings(db_url)) as r:
        c = await cast(r.client)
        rec = (await _cov(r.client, family="musubi"))["families"]["musubi"]["recovery"]
        assert not any(v["met"] for v in rec.values())

        h = {**c.si.h, "Idempotency-Key": "k-1"}
        assert (await r.client.post("/api/v1/orders", json=order_body(c), headers=h)).status_code == 201
        rec = (await _cov(r.client, family="musubi", caller=c.si.party_id))["families"]["musubi"]["recovery"]
        assert rec["idempotent_retry"] == {"met": False, "count": 0}
        assert (await r.client.post("/api/v1/orders", json=order_body(c), headers=h)).status_code == 201
        rec = (await _cov(r.client, family="musubi", caller=c.si.party_id))["families"]["musubi"]["recovery"]
        assert rec["idempotent_retry"] == {"met": True, "count": 1}

        rule = {"match": {"method": "GET", "path": "/api/v1/orders"}, "action": {"status": 503}, "times": 1}
        assert (await r.client.post("/_admin/faults", json=rule, headers=ADMIN_HEADERS)).status_code == 201
        assert (await r.client.get("/api/v1/orders", headers=c.si.h)).status_code == 503
        assert not (await _cov(r.client, family="musubi"))["families"]["musubi"]["recovery"][
            "fault_then_success"
        ]["met"]
        assert (await r.client.get("/api/v1/orders", headers=c.si.h)).status_code == 200
        rec = (await _cov(r.client, family="musubi", caller=c.si.party_id))["families"]["musubi"]["recovery"]
        assert rec["fault_then_success"]["met"]

        await advance(r.client, 3_601_000)  # past the Musubi token lifetime
        expired = await r.client.get("/api/v1/orders", headers=c.si.h)
        assert expired.status_code == 401
        assert not (await _cov(r.client, family="musubi"))["families"]["musubi"]["recovery"][
            "token_refresh_after_expiry"
        ]["met"]
        t = await r.client.post(
            "/auth/token", json={"client_id": c.si.client_id, "client_secret": c.si.client_secret}
        )
        token = t.json()["data"]["token"]
        again = await r.client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 200
        rec = (await _cov(r.client, family="musubi", caller=c.si.party_id))["families"]["musubi"]["recovery"]
        assert rec["token_refresh_after_expiry"]["met"]


async def test_stream_recorder_and_stream_recovery(sqlite_url: str) -> None:
    """The transports' recorder calls: subscriptions, resumes by source, gap-fills, kinds; a
    resume after a control-API cut and a resume covering skipped seqs meet their paths."""
    async with running_app(make_settings(sqlite_url)) as r:
        cov = r.ctx.coverage
        si = await participant(r.client, "SenderInst", "institution")
        channel = (await _cov(r.client, family="musubi"))["families"]["musubi"]["streams"]
        ch = sorted(channel)[0]
        cov.stream("musubi", si.party_id, ch, "subscribe", stream=si.party_id)
        cov.delivered("musubi", si.party_id, ch, ["order.created", "order.created"])
        assert (
            await r.client.post(f"/_admin/streams/musubi/{si.party_id}/disconnect", headers=ADMIN_HEADERS)
        ).status_code == 200
        skip = await r.client.post(
            f"/_admin/streams/musubi/{si.party_id}/skip", json={"count": 2}, headers=ADMIN_HEADERS
        )
        assert skip.status_code == 200
        cov.stream("musubi", si.party_id, ch, "resume", stream=si.party_id, source="ring", from_seq=1)
        cov.stream("musubi", si.party_id, ch, "gap_fill", stream=si.party_id, from_seq=1)
        fam = (await _cov(r.client, family="musubi", caller=si.party_id))["families"]["musubi"]
        s = fam["streams"][ch]
        assert s == {
            "subscriptions": 2,
            "resumes": {"ring": 1},
            "gap_fills": 1,
            "kinds": {"order.created": 2},
        }
        assert fam["recovery"]["resume_after_cut"]["met"]
        assert fam["recovery"]["gap_recovered"]["met"]
        assert f"subscribe {ch}" not in fam["missing"] and f"resume {ch}" not in fam["missing"]
