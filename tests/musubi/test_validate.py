"""Musubi input bounds (CONTRACT §6, "Limits, every family"): integers and amounts no field can
hold are a 400 naming the field, never a 5xx, and nothing already admitted is disturbed."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import ADMIN_HEADERS as ADMIN
from tests.conftest import make_settings, running_app
from tests.musubi.helpers import cast, fields, iso, now_ms, open_rfq, order_body, quote

pytestmark = pytest.mark.anyio

TOO_BIG = ("18446744073709551616", str(2**63), "-18446744073709551616", "1" + "0" * 40)


async def test_integer_past_64_bits_in_a_list_parameter_is_400_not_500(db_url: str) -> None:
    """`?page=2^64` (and page_size, on every list route) → 400 VALIDATION_ERROR naming the
    field; the largest page that fits is an empty page; the orders are untouched."""
    async with running_app(make_settings(db_url)) as r:
        c = await cast(r.client)
        iid = (await open_rfq(r.client, c))["intent_id"]
        await quote(r.client, c.mm1, iid)
        routes = [
            ("/api/v1/orders", c.si),
            ("/api/v1/quote-requests", c.mm1),
            (f"/api/v1/quote-requests/{iid}/quotes", c.mm1),
            ("/api/v1/quotes", c.mm1),
            ("/api/v1/settlements", c.mm1),
        ]
        for path, who in routes:
            for name in ("page", "page_size"):
                for value in TOO_BIG:
                    resp = await r.client.get(path, params={name: value}, headers=who.h)
                    assert resp.status_code == 400, (path, name, value, resp.text)
                    body = resp.json()
                    assert body["error"]["code"] == "VALIDATION_ERROR" and fields(resp) == [name]
            resp = await r.client.get(path, params={"page": str(2**63 - 1)}, headers=who.h)
            assert resp.status_code == 200 and resp.json()["data"] == [], path
            assert resp.json()["pagination"]["page"] == 2**63 - 1
        listed = (await r.client.get("/api/v1/orders", headers=c.si.h)).json()
        assert [o["intent_id"] for o in listed["data"]] == [iid]


async def test_last_event_id_past_64_bits_is_400_not_500(sqlite_url: str) -> None:
    """An SSE `Last-Event-ID` no stream can reach → 400 naming the header, before any stream opens."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = await cast(r.client)
        for value in (*TOO_BIG, "-1", "x"):
            resp = await r.client.get("/api/v1/orders/events", headers={**c.si.h, "Last-Event-ID": value})
            assert resp.status_code == 400, (value, resp.text)
            assert fields(resp) == ["Last-Event-ID"]
        resp = await r.client.get("/api/v1/events", headers={**c.mm1.h, "Last-Event-ID": str(2**64)})
        assert resp.status_code == 400 and fields(resp) == ["Last-Event-ID"]


async def test_amount_too_large_for_its_field_is_400_not_500(db_url: str) -> None:
    """Amounts and rates past 20 integer digits → 400 naming the field; the largest that fit
    quote, accept and settle arithmetic exactly (no 500 from a rounding context, no 503 from a
    column too narrow for the product)."""
    async with running_app(make_settings(db_url)) as r:
        c = await cast(r.client)
        huge = "1" + "0" * 20
        for name in ("target_amount", "source_amount_max"):
            resp = await r.client.post("/api/v1/orders", json=order_body(c, **{name: huge}), headers=c.si.h)
            assert resp.status_code == 400 and fields(resp) == [name], resp.text
        biggest = "9" * 20 + ".999999"
        iid = (await open_rfq(r.client, c, target_amount=biggest, source_amount_max=biggest))["intent_id"]
        vu = iso(await now_ms(r.client) + 60_000)
        resp = await r.client.post(
            f"/api/v1/quote-requests/{iid}/quotes", json={"fx_rate": huge, "valid_until": vu}, headers=c.mm1.h
        )
        assert resp.status_code == 400 and fields(resp) == ["fx_rate"]
        resp = await r.client.post(
            f"/api/v1/quote-requests/{iid}/quotes",
            json={"fx_rate": "9" * 20 + ".99999999", "valid_until": vu},
            headers=c.mm1.h,
        )
        assert resp.status_code == 201, resp.text
        q = resp.json()["data"]
        # (10^20 - 10^-6)(10^20 - 10^-8) = 10^40 - 10^14 - 10^12 + 10^-14, exactly, then half-up
        assert q["source_amount"] == "9999999999999999999999999899000000000000"
        cheap = await quote(r.client, c.mm2, iid, "0.00000001")
        resp = await r.client.post(f"/api/v1/orders/{iid}/quotes/{cheap['quote_id']}/accept", headers=c.sc.h)
        assert resp.status_code == 200 and resp.json()["data"]["status"] == "QUOTED"


async def test_empty_client_secret_is_401_like_a_wrong_one(sqlite_url: str) -> None:
    """An empty `client_secret` (or `client_id`) is refused exactly like a wrong one: 401
    UNAUTHORIZED, never a 400 that tells a prober the field was recognised."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = await cast(r.client)
        for body in (
            {"client_id": c.si.client_id, "client_secret": ""},
            {"client_id": "", "client_secret": c.si.client_secret},
            {"client_id": c.si.client_id, "client_secret": "wrong"},
        ):
            resp = await r.client.post("/auth/token", json=body)
            assert resp.status_code == 401, (body, resp.text)
            assert resp.json()["error"]["code"] == "UNAUTHORIZED"
        resp = await r.client.post("/auth/token", json={"client_id": c.si.client_id, "client_secret": 7})
        assert resp.status_code == 400 and fields(resp) == ["client_secret"]


async def test_json_nested_past_64_levels_is_400_not_500(sqlite_url: str) -> None:
    """A body nested deeper than 64 levels (255 breaks the encoder) → 400 naming `body`, on a
    participant route and (in the control API's own shape) a control route alike; 64 levels are parsed and validated as usual."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = await cast(r.client)

        def nested(body: dict[str, object], field: str, depth: int) -> bytes:
            """`body` as JSON with `field` an array nested `depth` levels (with the object itself)."""
            raw = orjson.dumps({**body, field: "@"})
            return raw.replace(b'"@"', b"[" * (depth - 1) + b'"x"' + b"]" * (depth - 1))

        for depth in (65, 255, 1000):
            resp = await r.client.post(
                "/api/v1/orders", content=nested(order_body(c), "memo", depth), headers=c.si.h
            )
            assert resp.status_code == 400 and fields(resp) == ["body"], depth
            resp = await r.client.post(
                "/_admin/musubi/participants",
                content=nested({"role": "institution"}, "name", depth),
                headers=ADMIN,
            )
            assert resp.status_code == 400 and resp.json()["error"]["message"].startswith("body"), depth
        resp = await r.client.post(
            "/api/v1/orders", content=nested(order_body(c), "memo", 64), headers=c.si.h
        )
        assert resp.status_code == 400 and fields(resp) == ["memo"]
