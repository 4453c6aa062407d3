"""The whole Musubi lifecycle against a real uvicorn: REST with httpx, SSE with httpx-sse."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from app.routers.musubi.asyncapi import asyncapi
from tests.conftest import ADMIN_HEADERS, live_server, make_settings, wait_for
from tests.musubi.helpers import Cast, Who, advance, cast, order_body

pytestmark = pytest.mark.anyio


class Listener:
    """Collects one participant's SSE events in a background task."""

    def __init__(self, client: httpx.AsyncClient, who: Who, path: str, **params: str) -> None:
        self.client, self.who, self.path, self.params = client, who, path, params
        self.events: list[ServerSentEvent] = []
        self.headers: httpx.Headers | None = None
        self.ready = asyncio.Event()
        self.ended = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _run(self, headers: dict[str, str]) -> None:
        try:
            async with aconnect_sse(self.client, "GET", self.path, headers=headers, params=self.params) as es:
                self.headers = es.response.headers
                self.status = es.response.status_code
                self.ready.set()
                async for ev in es.aiter_sse():
                    self.events.append(ev)
        except (httpx.HTTPError, httpx.StreamError):
            pass
        finally:
            self.ready.set()
            self.ended.set()

    async def start(self, last_event_id: int | None = None) -> Listener:
        headers = dict(self.who.h) if self.who.token else {}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.task = asyncio.create_task(self._run(headers))
        await asyncio.wait_for(self.ready.wait(), 5)
        return self

    def kinds(self) -> list[str]:
        return [e.event for e in self.events if e.event != "heartbeat"]

    def data(self) -> list[dict[str, Any]]:
        return [orjson.loads(e.data) for e in self.events if e.event != "heartbeat"]

    async def wait(self, n: int) -> None:
        await wait_for(lambda: len([e for e in self.events if e.event != "heartbeat"]) >= n, 5)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


@contextlib.asynccontextmanager
async def live_cast(db_url: str, **settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Cast]]:
    async with live_server(make_settings(db_url, **settings)) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            yield live, client, await cast(client)


async def test_full_lifecycle_every_view_every_event(db_url: str) -> None:
    """Create → accept → two quotes → select → co-sign → EXECUTING → SETTLED: every participant's
    REST view and SSE stream, in order, with contiguous ids (SQLite and PostgreSQL)."""
    async with live_cast(db_url) as (_live, client, c):
        views = {
            "si": await Listener(client, c.si, "/api/v1/orders/events").start(),
            "sc": await Listener(client, c.sc, "/api/v1/orders/events").start(),
            "ri": await Listener(client, c.ri, "/api/v1/orders/events").start(),
            "rc": await Listener(client, c.rc, "/api/v1/orders/events").start(),
            "mm1": await Listener(client, c.mm1, "/api/v1/events").start(),
            "mm2": await Listener(client, c.mm2, "/api/v1/events").start(),
            "oi": await Listener(client, c.oi, "/api/v1/orders/events").start(),
        }
        for lst in views.values():
            assert lst.status == 200
            assert lst.headers is not None and lst.headers["x-resume-source"] == "live"
            assert lst.headers["content-type"].startswith("text/event-stream")
        r = await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)
        assert r.status_code == 201
        iid = r.json()["data"]["intent_id"]
        assert (await client.post(f"/api/v1/orders/{iid}/accept", headers=c.sc.h)).status_code == 200
        # market makers see the anonymised RFQ
        rfq = (await client.get(f"/api/v1/quote-requests/{iid}", headers=c.mm1.h)).json()["data"]
        assert set(rfq) == {
            "intent_id",
            "created_at",
            "expires_at",
            "source_currency",
            "target_amount",
            "target_currency",
        }
        now = (await client.get("/_admin/clock", headers=ADMIN_HEADERS)).json()["now_ms"]
        from app.clock import iso_ms

        vu = iso_ms(now + 30_000)
        q1 = await client.post(
            f"/api/v1/quote-requests/{iid}/quotes",
            json={"fx_rate": "150.25", "target_amount": "100000", "valid_until": vu},
            headers=c.mm1.h,
        )
        assert q1.status_code == 201, q1.text
        q1d = q1.json()["data"]
        assert "market_maker_party_id" not in q1d and q1d["source_amount"] == "15025000"
        q2 = await client.post(
            f"/api/v1/quote-requests/{iid}/quotes",
            json={"fx_rate": "151", "valid_until": vu},
            headers=c.mm2.h,
        )
        assert q2.status_code == 201
        quotes = (await client.get(f"/api/v1/orders/{iid}/quotes", headers=c.si.h)).json()["data"]
        assert [q["market_maker_party_id"] for q in quotes] == [c.mm1.party_id, c.mm2.party_id]  # best first
        r = await client.post(f"/api/v1/orders/{iid}/quotes/{q1d['quote_id']}/accept", headers=c.si.h)
        assert r.status_code == 200 and r.json()["data"]["status"] == "QUOTED"
        assert r.json()["data"]["quote_accepted_at"] is None
        r = await client.post(f"/api/v1/orders/{iid}/quotes/{q1d['quote_id']}/accept", headers=c.sc.h)
        assert r.status_code == 200 and r.json()["data"]["quote_accepted_at"] is not None
        await advance(client, 1000)
        mid = (await client.get(f"/api/v1/orders/{iid}", headers=c.ri.h)).json()["data"]
        assert mid["status"] == "EXECUTING"
        await advance(client, 4000)
        final = {}
        for w in (c.si, c.sc, c.ri, c.rc):
            final[w.name] = (await client.get(f"/api/v1/orders/{iid}", headers=w.h)).json()["data"]
        order = final[c.si.name]
        assert all(v == order for v in final.values())
        assert order["status"] == "SETTLED" and re.fullmatch(r"0x[0-9a-f]{64}", order["transaction_hash"])
        assert order["fx_rate"] == "150.25" and order["source_amount_actual"] == "15025000"
        assert order["market_maker_party_id"] == c.mm1.party_id and order["settled_at"]

        statuses = ["PENDING", "PENDING", "QUOTED", "QUOTED", "EXECUTING", "SETTLED"]
        sender = ["order_updated", "order_updated", "quote_received", "quote_received"] + [
            "order_updated"
        ] * 4
        await views["si"].wait(8)
        await views["sc"].wait(8)
        await views["ri"].wait(6)
        await views["rc"].wait(6)
        await views["mm1"].wait(7)
        await views["mm2"].wait(3)
        for key in ("si", "sc"):
            assert views[key].kinds() == sender
            orders = [
                d for d, k in zip(views[key].data(), views[key].kinds(), strict=True) if k == "order_updated"
            ]
            assert [o["status"] for o in orders] == statuses
            assert orders[-1] == order
        for key in ("ri", "rc"):
            assert views[key].kinds() == ["order_updated"] * 6
            assert [o["status"] for o in views[key].data()] == statuses
        # market maker one: the RFQ, its quote, its win, then its settlement as it moves
        assert views["mm1"].kinds() == [
            "quote_request_created",
            "quote_updated",
            "quote_updated",
            "settlement_updated",
            "settlement_updated",
            "settlement_updated",
            "settlement_updated",
        ]
        mm1 = views["mm1"].data()
        assert [mm1[1]["status"], mm1[2]["status"]] == ["PENDING", "ACCEPTED"]
        assert [d["status"] for d in mm1[3:]] == ["QUOTED", "QUOTED", "EXECUTING", "SETTLED"]
        assert mm1[3]["quote_accepted_at"] is None and mm1[4]["quote_accepted_at"] is not None
        assert mm1[6]["transaction_hash"] == order["transaction_hash"]
        assert views["mm2"].kinds() == ["quote_request_created", "quote_updated", "quote_updated"]
        assert views["mm2"].data()[2]["status"] == "REJECTED"
        # market makers learn nothing about the parties or each other
        for key in ("mm1", "mm2"):
            blob = b"".join(e.data.encode() for e in views[key].events)
            for who in (c.si, c.sc, c.ri, c.rc):
                assert who.party_id.encode() not in blob
            other = c.mm2 if key == "mm1" else c.mm1
            assert other.party_id.encode() not in blob
        assert views["oi"].kinds() == []
        # every payload matches its AsyncAPI schema
        spec = asyncapi()
        schemas = spec["components"]["schemas"]
        by_kind = {
            m["name"]: m["payload"]["$ref"].rsplit("/", 1)[1] for m in spec["components"]["messages"].values()
        }
        for lst in views.values():
            for ev in lst.events:
                jsonschema.validate(orjson.loads(ev.data), schemas[by_kind[ev.event]])
        # ids are the participant stream's sequence, contiguous from 1
        for lst in views.values():
            ids = [int(e.id) for e in lst.events if e.event != "heartbeat"]
            assert ids == list(range(1, len(ids) + 1))
        for lst in views.values():
            await lst.stop()


async def test_sse_auth_filter_heartbeat_and_disconnect(sqlite_url: str) -> None:
    """SSE: 401/403 before streaming, ?access_token= works (header wins), ?intent_id= filters,
    heartbeats carry no id, and a control-API disconnect ends the stream."""
    async with live_cast(sqlite_url, musubi_sse_heartbeat_ms=100) as (_live, client, c):
        assert (await client.get("/api/v1/orders/events")).status_code == 401
        assert (await client.get("/api/v1/orders/events", headers=c.mm1.h)).status_code == 403
        assert (await client.get("/api/v1/events", headers=c.si.h)).status_code == 403
        r = await client.get("/api/v1/orders/events", headers={**c.si.h, "Last-Event-ID": "x"})
        assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "Last-Event-ID"
        # a garbage header token loses even with a good query token: the header wins
        r = await client.get(
            "/api/v1/orders/events",
            params={"access_token": c.si.token},
            headers={"Authorization": "Bearer junk"},
        )
        assert r.status_code == 401
        # access_token is for SSE only
        assert (await client.get("/api/v1/orders", params={"access_token": c.si.token})).status_code == 401
        o1 = (await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)).json()["data"]
        q = Listener(
            client,
            Who("q", "institution", c.si.party_id, "", "", ""),
            "/api/v1/orders/events",
            access_token=c.si.token,
            intent_id=o1["intent_id"],
        )
        await q.start(last_event_id=0)
        assert q.headers is not None and q.headers["x-resume-source"] == "ring"
        await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)
        await client.post(f"/api/v1/orders/{o1['intent_id']}/cancel", headers=c.si.h)
        await q.wait(2)
        assert [d["intent_id"] for d in q.data()] == [o1["intent_id"]] * 2
        assert [int(e.id) for e in q.events if e.event != "heartbeat"] == [1, 3]
        await wait_for(lambda: any(e.event == "heartbeat" for e in q.events), 5)
        hb = next(e for e in q.events if e.event == "heartbeat")
        assert "timestamp" in orjson.loads(hb.data)
        # on the wire a heartbeat frame has no id line
        async with client.stream("GET", "/api/v1/orders/events", headers=c.si.h) as raw:
            buf = b""
            async for chunk in raw.aiter_bytes():
                buf += chunk
                if b"\n\n" in buf:
                    break
        assert buf.split(b"\n\n")[0].startswith(b"event: heartbeat\ndata: ")
        assert b"id:" not in buf.split(b"\n\n")[0]
        r = await client.post(f"/_admin/streams/musubi/{c.si.party_id}/disconnect", headers=ADMIN_HEADERS)
        assert r.json()["disconnected"] == 1
        await asyncio.wait_for(q.ended.wait(), 5)
