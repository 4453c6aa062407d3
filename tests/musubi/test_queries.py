"""Musubi reads: order lists (filters, sorts, pagination), dashboard stats, the compliance
record and the settlements export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.conftest import make_settings, running_app
from tests.musubi.helpers import advance, cast, create, fields, iso, now_ms, open_rfq, quote

pytestmark = pytest.mark.anyio


async def test_list_filters_sorts_and_pagination(sqlite_url: str) -> None:
    """Pagination, every filter, every sort (target_amount numerically); unknown parameters are
    ignored, bad values of known ones name the field."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = await cast(r.client)
        amounts = ["9", "100000", "25.5", "1000", "300"]
        ids = []
        for i, amt in enumerate(amounts):
            cur = "JPYSC0" if i % 2 == 0 else "USDCx"
            tgt = "USDCx" if cur == "JPYSC0" else "JPYSC0"
            ids.append(
                (await create(r.client, c, target_amount=amt, source_currency=cur, target_currency=tgt))[
                    "intent_id"
                ]
            )
            await advance(r.client, 1000)
        t_mid = iso(await now_ms(r.client) - 2500)
        await r.client.post(f"/api/v1/orders/{ids[1]}/cancel", headers=c.si.h)

        async def get(**params: str) -> Any:
            resp = await r.client.get("/api/v1/orders", params=params, headers=c.rc.h)
            assert resp.status_code == 200, resp.text
            return resp.json()

        body = await get()
        assert [o["intent_id"] for o in body["data"]] == ids[::-1]  # created_at desc by default
        assert body["pagination"] == {"page": 1, "page_size": 20, "total_items": 5, "total_pages": 1}
        body = await get(page="2", page_size="2", sort_order="asc")
        assert [o["intent_id"] for o in body["data"]] == ids[2:4]
        assert body["pagination"] == {"page": 2, "page_size": 2, "total_items": 5, "total_pages": 3}
        body = await get(sort_by="target_amount", sort_order="asc")
        assert [o["target_amount"] for o in body["data"]] == ["9", "25.5", "300", "1000", "100000"]
        body = await get(sort_by="target_amount")
        assert body["data"][0]["target_amount"] == "100000"
        assert (await get(sort_by="status", sort_order="asc"))["data"][0]["status"] == "FAILED"
        assert len((await get(status="FAILED"))["data"]) == 1
        assert len((await get(status="PENDING,FAILED"))["data"]) == 5
        assert len((await get(source_currency="USDCx"))["data"]) == 2
        assert len((await get(target_currency="USDCx"))["data"]) == 3
        assert len((await get(created_after=t_mid))["data"]) == 2
        assert len((await get(created_before=t_mid))["data"]) == 3
        assert [o["intent_id"] for o in (await get(updated_after=iso(await now_ms(r.client))))["data"]] == [
            ids[1]
        ]
        assert len((await get(sort_by="settled_at", whatever="x", foo="bar"))["data"]) == 5
        resp = await r.client.get(
            "/api/v1/orders",
            params={
                "page": "0",
                "page_size": "101",
                "status": "DONE",
                "source_currency": "EUR",
                "target_currency": "x",
                "created_after": "yesterday",
                "created_before": "2025-13-01",
                "updated_after": "x",
                "sort_by": "memo",
                "sort_order": "up",
            },
            headers=c.si.h,
        )
        assert resp.status_code == 400
        assert fields(resp) == [
            "page",
            "page_size",
            "status",
            "source_currency",
            "target_currency",
            "created_after",
            "created_before",
            "updated_after",
            "sort_by",
            "sort_order",
        ]
        resp = await r.client.get("/api/v1/orders", params={"page_size": "abc"}, headers=c.si.h)
        assert resp.status_code == 400 and fields(resp) == ["page_size"]


async def test_dashboard_compliance_and_exports(sqlite_url: str) -> None:
    """Stats count by status with settled volume per currency; the compliance record lists every
    transition; the export answers CSV and JSON with the reference columns and its filters."""
    async with running_app(make_settings(sqlite_url)) as r:
        client = r.client
        c = await cast(client)
        settled = []
        for fx in ("150", "151.5"):
            iid = (await open_rfq(client, c))["intent_id"]
            q = await quote(client, c.mm1, iid, fx)
            await client.post(f"/api/v1/orders/{iid}/quotes/{q['quote_id']}/accept", headers=c.sc.h)
            await advance(client, 5000)
            settled.append(iid)
        failed = (await create(client, c))["intent_id"]
        await client.post(f"/api/v1/orders/{failed}/cancel", headers=c.si.h)
        stats = (await client.get("/api/v1/dashboard/stats", headers=c.rc.h)).json()["data"]
        assert stats["counts_by_status"]["SETTLED"] == 2 and stats["counts_by_status"]["FAILED"] == 1
        assert stats["settled_volume"] == {"JPYSC0": "30150000", "USDCx": "200000"}
        mm = (await client.get("/api/v1/dashboard/stats", headers=c.mm1.h)).json()["data"]
        assert mm["counts_by_status"]["SETTLED"] == 2 and mm["quotes_submitted"] == 2
        assert (await client.get("/api/v1/dashboard/stats", headers=c.oi.h)).json()["data"][
            "total_orders"
        ] == 0
        js = (
            await client.get("/api/v1/exports/settlements", params={"format": "json"}, headers=c.ri.h)
        ).json()["data"]
        assert [row["intent_id"] for row in js] == settled
        assert js[1]["fx_rate"] == "151.5" and js[1]["source_amount_actual"] == "15150000"
        assert (
            js[0]["originating_vasp_code"] == c.sc.party_id
            and js[0]["beneficiary_vasp_code"] == c.rc.party_id
        )
        resp = await client.get("/api/v1/exports/settlements", params={"format": "csv"}, headers=c.sc.h)
        assert resp.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(resp.text)))
        assert list(rows[0])[:14] == [
            "intent_id",
            "transaction_hash",
            "settled_at",
            "source_currency",
            "source_amount_actual",
            "target_currency",
            "target_amount",
            "fx_rate",
            "sender_party_id",
            "receiver_party_id",
            "originating_vasp_code",
            "beneficiary_vasp_code",
            "jurisdiction_sender",
            "jurisdiction_receiver",
        ]
        assert [row["intent_id"] for row in rows] == settled
        both = (
            await client.get(
                "/api/v1/exports/settlements", params={"status": "SETTLED,FAILED"}, headers=c.si.h
            )
        ).json()
        assert len(both["data"]) == 3
        cut = js[0]["settled_at"]
        later = (
            await client.get("/api/v1/exports/settlements", params={"settled_from": cut}, headers=c.si.h)
        ).json()
        assert len(later["data"]) == 2
        early = (
            await client.get("/api/v1/exports/settlements", params={"settled_to": cut}, headers=c.si.h)
        ).json()
        assert len(early["data"]) == 1
        resp = await client.get(
            "/api/v1/exports/settlements",
            params={"format": "pdf", "settled_from": "x", "status": "PENDING"},
            headers=c.si.h,
        )
        assert resp.status_code == 400 and fields(resp) == ["format", "settled_from", "status"]
        assert (await client.get("/api/v1/exports/settlements", headers=c.oi.h)).json()["data"] == []
