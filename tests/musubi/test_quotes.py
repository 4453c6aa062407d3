"""Market makers: anonymised RFQs, quote validation, own quotes and settlements, the simulated
makers (auto-quoting and the control API)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import ADMIN_HEADERS, make_settings, running_app
from tests.musubi.helpers import advance, cast, create, iso, now_ms, open_rfq, quote

pytestmark = pytest.mark.anyio

RFQ_KEYS = {"intent_id", "created_at", "expires_at", "source_currency", "target_amount", "target_currency"}


async def test_rfqs_are_anonymised_and_quotes_validated(sqlite_url: str) -> None:
    """An RFQ shows only the six documented fields, only once the custodian accepted; a quote is
    validated field by field (fx_rate ≤ 8 decimals, target_amount equal, valid_until in the
    future and not after expires_at); a maker sees only its own quotes, never competitors."""
    async with running_app(make_settings(sqlite_url)) as r:
        client = r.client
        c = await cast(client)
        hidden = (await create(client, c))["intent_id"]
        assert (await client.get(f"/api/v1/quote-requests/{hidden}", headers=c.mm1.h)).status_code == 404
        vu = iso(await now_ms(client) + 10_000)
        resp = await client.post(
            f"/api/v1/quote-requests/{hidden}/quotes",
            json={"fx_rate": "150", "valid_until": vu},
            headers=c.mm1.h,
        )
        assert resp.status_code == 404
        o = await open_rfq(client, c, target_amount="2500.5")
        iid = o["intent_id"]
        listed = (await client.get("/api/v1/quote-requests", headers=c.mm1.h)).json()
        assert [set(x) for x in listed["data"]] == [RFQ_KEYS]
        assert listed["data"][0]["target_amount"] == "2500.5" and listed["pagination"]["total_items"] == 1
        now = await now_ms(client)
        bad = [
            ({"valid_until": iso(now + 1000)}, ["fx_rate"]),
            ({"fx_rate": "150.123456789", "valid_until": iso(now + 1000)}, ["fx_rate"]),
            ({"fx_rate": "0", "valid_until": iso(now + 1000)}, ["fx_rate"]),
            ({"fx_rate": 150, "valid_until": iso(now + 1000)}, ["fx_rate"]),
            ({"fx_rate": "150", "target_amount": "2500", "valid_until": iso(now + 1000)}, ["target_amount"]),
            ({"fx_rate": "150", "valid_until": iso(now - 1)}, ["valid_until"]),
            ({"fx_rate": "150", "valid_until": iso(now + 400_000)}, ["valid_until"]),
            ({"fx_rate": "150", "valid_until": "soon"}, ["valid_until"]),
            ({"fx_rate": "x", "target_amount": "-1"}, ["fx_rate", "target_amount", "valid_until"]),
        ]
        for body, expect in bad:
            resp = await client.post(f"/api/v1/quote-requests/{iid}/quotes", json=body, headers=c.mm1.h)
            assert resp.status_code == 400, body
            assert [d["field"] for d in resp.json()["error"]["details"]] == expect, body
        ok = await client.post(
            f"/api/v1/quote-requests/{iid}/quotes",
            json={"fx_rate": "150.12345678", "target_amount": "2500.50", "valid_until": iso(now + 1000)},
            headers=c.mm1.h,
        )
        assert ok.status_code == 201
        q = ok.json()["data"]
        assert q["source_amount"] == str(
            (Decimal("2500.5") * Decimal("150.12345678")).quantize(Decimal("0.000001"))
        )
        assert q["status"] == "PENDING" and "market_maker_party_id" not in q
        await quote(client, c.mm2, iid, "149")
        mine = (await client.get(f"/api/v1/quote-requests/{iid}/quotes", headers=c.mm1.h)).json()["data"]
        assert [x["quote_id"] for x in mine] == [q["quote_id"]]
        assert (await client.get("/api/v1/quotes", headers=c.mm2.h)).json()["pagination"]["total_items"] == 1
        await advance(client, 1000)
        assert (await client.get("/api/v1/quotes", params={"status": "EXPIRED"}, headers=c.mm1.h)).json()[
            "data"
        ][0]["quote_id"] == q["quote_id"]
        resp = await client.get("/api/v1/quotes", params={"status": "LOST"}, headers=c.mm1.h)
        assert resp.status_code == 400 and resp.json()["error"]["details"][0]["field"] == "status"
        stats = (await client.get("/api/v1/dashboard/stats", headers=c.mm1.h)).json()["data"]
        assert stats["quotes_submitted"] == 1 and stats["open_quote_requests"] == 1
        blob = str(stats) + str(listed) + str(mine)
        for w in (c.si, c.sc, c.ri, c.rc, c.mm2):
            assert w.party_id not in blob
        # a closed RFQ: 409 for a new quote; gone from the list; still readable by who quoted
        await client.post(f"/api/v1/orders/{iid}/cancel", headers=c.si.h)
        resp = await client.post(
            f"/api/v1/quote-requests/{iid}/quotes",
            json={"fx_rate": "150", "valid_until": iso(await now_ms(client) + 1000)},
            headers=c.mm1.h,
        )
        assert resp.status_code == 409
        assert (await client.get("/api/v1/quote-requests", headers=c.mm1.h)).json()["data"] == []
        assert (await client.get(f"/api/v1/quote-requests/{iid}", headers=c.mm1.h)).status_code == 200
        assert (await client.get("/api/v1/settlements", headers=c.mm1.h)).json()["data"] == []


async def test_settlements_of_the_winner(sqlite_url: str) -> None:
    """The winning maker sees its settlement move to SETTLED with the hash; the loser sees none."""
    async with running_app(make_settings(sqlite_url)) as r:
        client = r.client
        c = await cast(client)
        iid = (await open_rfq(client, c))["intent_id"]
        q1 = await quote(client, c.mm1, iid, "150")
        await quote(client, c.mm2, iid, "150.1")
        await client.post(f"/api/v1/orders/{iid}/quotes/{q1['quote_id']}/accept", headers=c.sc.h)
        await advance(client, 5000)
        s = (await client.get(f"/api/v1/settlements/{iid}", headers=c.mm1.h)).json()["data"]
        assert (
            s["status"] == "SETTLED"
            and s["transaction_hash"].startswith("0x")
            and s["quote_id"] == q1["quote_id"]
        )
        assert s["source_amount"] == "15000000" and s["target_amount"] == "100000"
        assert "sender_party_id" not in s and "receiver_party_id" not in s
        listed = (
            await client.get("/api/v1/settlements", params={"status": "SETTLED"}, headers=c.mm1.h)
        ).json()
        assert [x["intent_id"] for x in listed["data"]] == [iid]
        assert (await client.get(f"/api/v1/settlements/{iid}", headers=c.mm2.h)).status_code == 404
        statuses = {x["status"] for x in (await client.get("/api/v1/quotes", headers=c.mm2.h)).json()["data"]}
        assert statuses == {"REJECTED"}


async def test_simulated_makers_quote_after_the_delay(sqlite_url: str) -> None:
    """With auto-quote on, the simulated makers quote `musubi_quote_delay_ms` after the RFQ
    opens, around the reference rate (≈150 JPYSC0 per USDCx, ≈1/150 the other way)."""
    settings = make_settings(sqlite_url, seed="demo", musubi_auto_quote="on", musubi_quote_delay_ms=8000)
    async with running_app(settings) as r:
        client = r.client
        c = await cast(client)
        jpy = (await open_rfq(client, c))["intent_id"]
        usd = (
            await open_rfq(
                client,
                c,
                source_currency="USDCx",
                target_currency="JPYSC0",
                target_amount="1500000",
                source_amount_max="20000",
            )
        )["intent_id"]
        await advance(client, 7999)
        assert (await client.get(f"/api/v1/orders/{jpy}/quotes", headers=c.si.h)).json()["data"] == []
        await advance(client, 1)
        qs = (await client.get(f"/api/v1/orders/{jpy}/quotes", headers=c.si.h)).json()["data"]
        assert len(qs) == 3  # the built-in maker and the two demo makers
        for q in qs:
            assert Decimal("150") < Decimal(q["fx_rate"]) < Decimal("152")
        qs = (await client.get(f"/api/v1/orders/{usd}/quotes", headers=c.si.h)).json()["data"]
        for q in qs:
            assert Decimal("0.0066") < Decimal(q["fx_rate"]) < Decimal("0.0068")
        best = min(qs, key=lambda q: Decimal(q["source_amount"]))
        resp = await client.post(f"/api/v1/orders/{usd}/quotes/{best['quote_id']}/accept", headers=c.sc.h)
        assert resp.status_code == 200
        await advance(client, 5000)
        assert (await client.get(f"/api/v1/orders/{usd}", headers=c.si.h)).json()["data"][
            "status"
        ] == "SETTLED"


async def test_control_api_quote(sqlite_url: str) -> None:
    """POST /_admin/musubi/orders/{id}/quotes makes the built-in maker quote now (also with no
    seed and auto-quote off); its body is validated; a not-yet-open RFQ is a 409."""
    async with running_app(make_settings(sqlite_url)) as r:
        client = r.client
        c = await cast(client)
        closed = (await create(client, c))["intent_id"]
        resp = await client.post(f"/_admin/musubi/orders/{closed}/quotes", json={}, headers=ADMIN_HEADERS)
        assert resp.status_code == 409
        iid = (await open_rfq(client, c))["intent_id"]
        resp = await client.post(
            f"/_admin/musubi/orders/{iid}/quotes",
            json={"fx_rate": "149.5", "target_amount": "100000"},
            headers=ADMIN_HEADERS,
        )
        assert resp.status_code == 201
        q = resp.json()
        assert (
            q["market_maker_party_id"].startswith("SimulatedMarketMaker::1220")
            and q["source_amount"] == "14950000"
        )
        resp = await client.post(
            f"/_admin/musubi/orders/{iid}/quotes", json={"fx_rate": "-1"}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 400
        resp = await client.post(f"/_admin/musubi/orders/{iid}/quotes", json={}, headers=ADMIN_HEADERS)
        assert resp.status_code == 201 and Decimal(resp.json()["fx_rate"]) > 150
        assert len((await client.get(f"/api/v1/orders/{iid}/quotes", headers=c.sc.h)).json()["data"]) == 2


async def test_simulated_makers_wait_for_the_network(sqlite_url: str) -> None:
    """Simulated makers do not quote while the network is down; they quote once it is back."""
    settings = make_settings(sqlite_url, musubi_auto_quote="on", musubi_quote_delay_ms=1000)
    async with running_app(settings) as r:
        client = r.client
        c = await cast(client)
        iid = (await open_rfq(client, c))["intent_id"]
        await client.post("/_admin/musubi/network", json={"available": False}, headers=ADMIN_HEADERS)
        await advance(client, 2000)
        assert (await client.get(f"/api/v1/orders/{iid}/quotes", headers=c.si.h)).json()["data"] == []
        await client.post("/_admin/musubi/network", json={"available": True}, headers=ADMIN_HEADERS)
        await advance(client, 0)
        quotes = (await client.get(f"/api/v1/orders/{iid}/quotes", headers=c.si.h)).json()["data"]
        assert [q["market_maker_party_id"].split("::")[0] for q in quotes] == ["SimulatedMarketMaker"]
