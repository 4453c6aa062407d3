"""Control API core: auth, clock, faults, journal, reset."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN_HEADERS, live_server, make_settings, running_app

pytestmark = pytest.mark.anyio


async def test_admin_requires_token(db_url: str) -> None:
    """No or wrong admin token → 401 on every control route; the right one → 200."""
    async with running_app(make_settings(db_url)) as r:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "test-admin"}):
            resp = await r.client.get("/_admin/clock", headers=headers)
            assert resp.status_code == 401
            assert resp.json()["error"]["code"] == "UNAUTHORIZED"
        assert (await r.client.post("/_admin/reset", json={})).status_code == 401
        assert (await r.client.get("/_admin/clock", headers=ADMIN_HEADERS)).status_code == 200


async def test_live_server_health(sqlite_url: str) -> None:
    """A real uvicorn on port 0 answers /health."""
    async with live_server(make_settings(sqlite_url)) as live, httpx.AsyncClient() as c:
        resp = await c.get(live.base_url + "/health")
        assert resp.json() == {"status": "ok"}


async def test_clock_advance_over_http_fires_timers_in_order(sqlite_url: str) -> None:
    """POST /_admin/clock advance fires every due timer in time order and answers the clock."""
    async with running_app(make_settings(sqlite_url)) as r:
        clock = r.ctx.clock
        t0 = clock.now_ms()
        fired: list[int] = []
        for d in (3_000, 1_000, 2_000, 9_000):
            clock.call_at(t0 + d, lambda d=d: fired.append(d))
        resp = await r.client.post(
            "/_admin/clock", json={"action": "advance", "ms": 5_000}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 200
        assert resp.json()["now_ms"] == t0 + 5_000 and resp.json()["frozen"] is True
        assert fired == [1_000, 2_000, 3_000]
        bad = await r.client.post(
            "/_admin/clock", json={"action": "advance", "ms": -5}, headers=ADMIN_HEADERS
        )
        assert bad.status_code == 400 and "ms" in bad.text
        resumed = await r.client.post("/_admin/clock", json={"action": "resume"}, headers=ADMIN_HEADERS)
        assert resumed.json()["frozen"] is False


async def test_clock_advance_out_of_range_is_a_400_naming_ms(sqlite_url: str) -> None:
    """`ms` past 366 days (2^64, 10^20…), fractional, boolean or missing → 400 naming `ms`, and
    the clock does not move (no endless advance hanging the process); 366 days is accepted
    (the broker's quote simulator off: its fast-forward is the broker's own test)."""
    async with running_app(make_settings(sqlite_url, broker_tick_interval_ms=0)) as r:
        t0 = r.ctx.clock.now_ms()
        for ms in (2**64, 99999999999999999999, 366 * 86_400_000 + 1, 1.5, True, None, "soon"):
            resp = await r.client.post(
                "/_admin/clock", json={"action": "advance", "ms": ms}, headers=ADMIN_HEADERS
            )
            assert resp.status_code == 400, (ms, resp.text)
            assert resp.json()["error"]["message"].startswith("ms:"), ms
        assert r.ctx.clock.now_ms() == t0
        resp = await r.client.post(
            "/_admin/clock", json={"action": "advance", "ms": 366 * 86_400_000}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 200 and resp.json()["now_ms"] == t0 + 366 * 86_400_000


async def test_fault_rules_match_only_their_requests_in_the_family_shape(sqlite_url: str) -> None:
    """A status fault answers its matches in that family's error shape, and stops after `times`."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = r.client
        rules = [
            {
                "match": {"family": "musubi", "method": "GET"},
                "action": {"status": 503, "code": "BUSY"},
                "times": 2,
            },
            {"match": {"path": "/sign/*"}, "action": {"status": 500, "code": "BROKEN"}, "times": 1},
            {
                "match": {"path": "/api/v1/order-entry/*", "family": "order-entry"},
                "action": {"status": 429, "code": "RATE_LIMITED"},
            },
            {"match": {"path": "/health"}, "action": {"status": 500, "code": "SICK"}, "times": 1},
        ]
        for rule in rules:
            assert (await c.post("/_admin/faults", json=rule, headers=ADMIN_HEADERS)).status_code == 201
        m = await c.get("/api/v1/orders")
        assert m.status_code == 503
        body = m.json()
        assert body["error"] == {"code": "BUSY", "message": "injected fault", "details": []}
        assert body["meta"]["request_id"] == m.headers["x-request-id"]
        assert (await c.get("/api/v1/orders")).status_code == 503
        assert (await c.get("/api/v1/orders")).status_code != 503  # times exhausted
        assert (await c.post("/api/v1/orders", json={})).status_code != 503  # method does not match
        b = await c.post("/sign/in", json={})
        assert b.status_code == 500 and b.json() == {"error": "BROKEN", "message": "injected fault"}
        o = await c.get("/api/v1/order-entry/markets")
        assert o.status_code == 429 and o.json() == {
            "error": {"code": "RATE_LIMITED", "message": "injected fault"}
        }
        h = await c.get("/health")
        assert h.status_code == 500 and h.json()["error"]["code"] == "SICK"
        assert (await c.get("/health")).status_code == 200
        # control routes are never matched, and the list shows what is left
        listed = (await c.get("/_admin/faults", headers=ADMIN_HEADERS)).json()["rules"]
        assert [x["action"]["code"] for x in listed] == ["RATE_LIMITED"]
        await c.delete("/_admin/faults", headers=ADMIN_HEADERS)
        assert (await c.get("/api/v1/order-entry/markets")).status_code != 429
        bad = await c.post(
            "/_admin/faults",
            json={"match": {"family": "nope"}, "action": {"drop": True}},
            headers=ADMIN_HEADERS,
        )
        assert bad.status_code == 400 and "match.family" in bad.text


async def test_delay_and_drop_faults_on_a_real_server(sqlite_url: str) -> None:
    """delay_ms holds the answer; drop cuts the connection with no answer at all."""
    import time

    async with live_server(make_settings(sqlite_url)) as live, httpx.AsyncClient(base_url=live.base_url) as c:
        await c.post(
            "/_admin/faults",
            json={"match": {"path": "/health"}, "action": {"delay_ms": 300}, "times": 1},
            headers=ADMIN_HEADERS,
        )
        t = time.perf_counter()
        assert (await c.get("/health")).status_code == 200
        assert time.perf_counter() - t >= 0.29
        await c.post(
            "/_admin/faults",
            json={"match": {"path": "/health"}, "action": {"drop": True}, "times": 1},
            headers=ADMIN_HEADERS,
        )
        with pytest.raises(httpx.TransportError):
            await c.get("/health")
        assert (await c.get("/health")).status_code == 200
        journal = (await c.get("/_admin/journal?limit=50", headers=ADMIN_HEADERS)).json()["entries"]
        health = [e for e in journal if e["path"] == "/health"]
        assert len(health) == 3 and {e["status"] for e in health} == {0, 200}


async def test_journal_records_requests_newest_first(sqlite_url: str) -> None:
    """The journal lists recent requests with family, method, path, status, latency and caller."""
    async with running_app(make_settings(sqlite_url)) as r:
        await r.client.get("/health")
        await r.client.get("/sign/nothing")
        entries = (await r.client.get("/_admin/journal", headers=ADMIN_HEADERS)).json()["entries"]
        assert [e["path"] for e in entries[:2]] == ["/sign/nothing", "/health"]
        assert entries[0]["family"] == "broker" and entries[0]["status"] == 404
        assert entries[1]["family"] == "core" and entries[1]["latency_ms"] >= 0
        assert set(entries[0]) >= {"time", "family", "method", "path", "status", "latency_ms", "caller"}


async def test_stream_disconnect_skip_and_read_over_http(sqlite_url: str) -> None:
    """/_admin/streams: skip makes a gap for live subscribers, read serves it, disconnect ends them."""
    from app.engine.streams import StreamClosed

    async with running_app(make_settings(sqlite_url, ring_max_events=3)) as r:
        c, ctx = r.client, r.ctx
        sub = await ctx.streams.subscribe("broker", "1001")
        skip = await c.post("/_admin/streams/broker/1001/skip", json={"count": 2}, headers=ADMIN_HEADERS)
        assert skip.status_code == 200 and skip.json()["skip_pending"] == 2
        made = await c.post(
            "/_admin/streams/broker/1001/events", json={"count": 5, "body": {"k": 1}}, headers=ADMIN_HEADERS
        )
        assert made.json()["seqs"] == [1, 2, 3, 4, 5]
        batch = await sub.next_batch()
        assert [e.seq for e in batch] == [3, 4, 5]
        read = (await c.get("/_admin/streams/broker/1001/events?from_seq=1", headers=ADMIN_HEADERS)).json()
        assert read["source"] == "mixed" and [e["seq"] for e in read["events"]] == [1, 2, 3, 4, 5]
        info = (await c.get("/_admin/streams/broker/1001", headers=ADMIN_HEADERS)).json()
        assert info["head"] == 5 and info["subscribers"] == 1 and info["ring"]["size"] == 3
        dis = await c.post("/_admin/streams/broker/1001/disconnect", headers=ADMIN_HEADERS)
        assert dis.json()["disconnected"] == 1
        with pytest.raises(StreamClosed):
            await sub.next_batch()
        assert (await c.post("/_admin/streams/nope/x/disconnect", headers=ADMIN_HEADERS)).status_code == 404
        bad = await c.post("/_admin/streams/broker/1001/skip", json={"count": 0}, headers=ADMIN_HEADERS)
        assert bad.status_code == 400 and "count" in bad.text


async def test_reset_wipes_streams_and_faults(db_url: str) -> None:
    """POST /_admin/reset empties every stream, fault and timer; sequences start at 1 again."""
    async with running_app(make_settings(db_url)) as r:
        c, ctx = r.client, r.ctx
        await c.post("/_admin/streams/musubi/p/events", json={"count": 3}, headers=ADMIN_HEADERS)
        await c.post(
            "/_admin/faults",
            json={"match": {"path": "/nothing"}, "action": {"drop": True}},
            headers=ADMIN_HEADERS,
        )
        stale = ctx.clock.call_later(1_000, lambda: None)
        resp = await c.post("/_admin/reset", json={"seed": "none"}, headers=ADMIN_HEADERS)
        assert resp.status_code == 200
        assert ctx.faults.rules == [] and stale not in ctx.clock.pending()
        again = await c.post("/_admin/streams/musubi/p/events", json={"count": 1}, headers=ADMIN_HEADERS)
        assert again.json()["seqs"] == [1]
        bad = await c.post("/_admin/reset", json={"seed": "lots"}, headers=ADMIN_HEADERS)
        assert bad.status_code == 400 and "seed" in bad.text


async def test_unknown_route_and_bad_body_render_in_each_family_shape(sqlite_url: str) -> None:
    """404s and invalid JSON come back in the owning family's error shape, never as a 500."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = r.client
        m = await c.get("/api/v1/no-such-thing")
        assert m.status_code == 404 and m.json()["error"]["code"] == "NOT_FOUND" and "meta" in m.json()
        b = await c.get("/market/no-such-thing")
        assert b.status_code == 404 and b.json()["error"] == "NOT_FOUND"
        o = await c.get("/api/v1/order-entry/no-such-thing")
        assert o.status_code == 404 and o.json() == {
            "error": {"code": "NOT_FOUND", "message": o.json()["error"]["message"]}
        }
        bad = await c.post(
            "/_admin/clock",
            content=b"{not json",
            headers={**ADMIN_HEADERS, "content-type": "application/json"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_REQUEST"


async def test_clock_position_survives_restart(sqlite_url: str) -> None:
    """A frozen clock resumes after a restart where it stood."""
    async with running_app(make_settings(sqlite_url)) as r:
        await r.client.post(
            "/_admin/clock", json={"action": "advance", "ms": 3_600_000}, headers=ADMIN_HEADERS
        )
        stood = r.ctx.clock.now_ms()
    async with running_app(make_settings(sqlite_url)) as r:
        assert r.ctx.clock.now_ms() == stood


FORM = {**ADMIN_HEADERS, "content-type": "application/x-www-form-urlencoded"}  # what `curl -d` sends


async def test_control_bodies_are_json_whatever_the_content_type(sqlite_url: str) -> None:
    """`curl -d '{...}'` sends a form content type: every control route, the families' own
    included, still reads the body as JSON (no 'Input should be a valid dictionary')."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = r.client
        ok = [
            ("/_admin/clock", b'{"action":"freeze"}', 200),
            ("/_admin/faults", b'{"match":{"path":"/none"},"action":{"status":503}}', 201),
            ("/_admin/streams/broker/7/skip", b'{"count":1}', 200),
            ("/_admin/streams/broker/7/events", b'{"count":2}', 201),
            ("/_admin/order-entry/agents", b"{}", 201),
            ("/_admin/musubi/network", b'{"available":true}', 200),
            ("/_admin/broker/users", b'{"password":"secret123"}', 201),
        ]
        for path, body, status in ok:
            resp = await c.post(path, content=body, headers=FORM)
            assert resp.status_code == status, (path, resp.text)
        for ctype in ("text/plain", "multipart/form-data; boundary=x"):
            resp = await c.post(
                "/_admin/clock", content=b'{"action":"resume"}', headers={**FORM, "content-type": ctype}
            )
            assert resp.status_code == 200, (ctype, resp.text)


async def test_control_routes_without_a_body_take_none(sqlite_url: str) -> None:
    """Routes whose body is optional answer an empty request (no Content-Type, no body)."""
    async with running_app(make_settings(sqlite_url)) as r:
        c = r.client
        for path in (
            "/_admin/reset",
            "/_admin/streams/broker/7/events",
            "/_admin/streams/broker/7/disconnect",
        ):
            resp = await c.post(path, headers=ADMIN_HEADERS)
            assert resp.status_code in (200, 201), (path, resp.text)
        resp = await c.post("/_admin/clock", headers=ADMIN_HEADERS)  # this one needs a body
        assert resp.status_code == 400 and resp.json()["error"]["message"].startswith("body:")


async def test_control_integers_past_their_range_are_400_naming_the_field(sqlite_url: str) -> None:
    """2^64, 2^63 and other out-of-range integers in control queries and bodies → 400 naming
    the field (never a 500 from the database or the encoder, never a 422)."""
    big = 2**64
    async with running_app(make_settings(sqlite_url)) as r:
        c = r.client
        cases = [
            ("GET", f"/_admin/journal?limit={big}", None, "limit"),
            ("GET", "/_admin/journal?limit=0", None, "limit"),
            ("GET", "/_admin/journal?limit=ten", None, "limit"),
            ("GET", f"/_admin/streams/broker/7/events?from_seq={big}", None, "from_seq"),
            ("GET", f"/_admin/streams/broker/7/events?from_seq={2**63}", None, "from_seq"),
            ("GET", f"/_admin/streams/broker/7/events?limit={big}", None, "limit"),
            ("POST", "/_admin/streams/broker/7/skip", {"count": big}, "count"),
            ("POST", "/_admin/streams/broker/7/events", {"count": big}, "count"),
            ("POST", "/_admin/faults", {"action": {"status": 503}, "times": 2**63}, "times"),
            ("POST", "/_admin/faults", {"action": {"delay_ms": big}}, "action.delay_ms"),
            ("POST", "/_admin/faults", {"action": {"status": big}}, "action.status"),
        ]
        for method, path, body, field in cases:
            resp = await c.request(method, path, json=body, headers=ADMIN_HEADERS)
            assert resp.status_code == 400, (path, body, resp.text)
            assert resp.json()["error"]["message"].startswith(f"{field}:"), (path, resp.text)
        assert (
            await c.get("/_admin/streams/broker/7/events?from_seq=5&limit=3", headers=ADMIN_HEADERS)
        ).status_code == 200


def _nested(levels: int) -> bytes:
    return b'{"body":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


async def test_deeply_nested_control_body_is_400_not_500(sqlite_url: str) -> None:
    """JSON nested deeper than 64 levels → 400 naming `body` (255 levels used to reach orjson's
    recursion limit while the event was encoded: a 500); 64 levels are accepted."""
    async with running_app(make_settings(sqlite_url)) as r:
        for levels in (65, 255, 10_000):
            resp = await r.client.post(
                "/_admin/streams/broker/7/events", content=_nested(levels), headers=ADMIN_HEADERS
            )
            assert resp.status_code == 400, (levels, resp.text)
            assert resp.json()["error"]["message"].startswith("body:")
        resp = await r.client.post(
            "/_admin/streams/broker/7/events", content=_nested(64), headers=ADMIN_HEADERS
        )
        assert resp.status_code == 201, resp.text


async def test_openapi_declares_no_422(sqlite_url: str) -> None:
    """The server answers bad input with 400 in the family's shape, so no operation declares
    FastAPI's default 422 (and its unused schemas are gone)."""
    async with running_app(make_settings(sqlite_url)) as r:
        doc = (await r.client.get("/openapi.json")).json()
        statuses = {
            s for item in doc["paths"].values() for op in item.values() for s in op.get("responses", {})
        }
        assert "422" not in statuses
        assert "HTTPValidationError" not in doc.get("components", {}).get("schemas", {})
