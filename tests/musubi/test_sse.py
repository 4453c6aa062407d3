"""SSE resume with Last-Event-ID: exactly the full sequence, from the ring, SQL or both."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.conftest import ADMIN_HEADERS, live_server, make_settings, wait_for
from tests.musubi.helpers import Who, advance, cast, order_body

pytestmark = pytest.mark.anyio


async def read_from(
    client: httpx.AsyncClient, who: Who, last: int | None, until: int
) -> tuple[list[int], str]:
    """Connect with Last-Event-ID `last`, read events up to id `until`, then hang up."""
    headers = dict(who.h)
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    ids: list[int] = []
    async with asyncio.timeout(10):
        async with aconnect_sse(client, "GET", "/api/v1/orders/events", headers=headers) as es:
            source = es.response.headers["x-resume-source"]
            if (last or 0) >= until:
                return ids, source
            async for ev in es.aiter_sse():
                if ev.event == "heartbeat":
                    continue
                ids.append(int(ev.id))
                if ids[-1] >= until:
                    break
    return ids, source


async def test_resume_at_random_points_ring_sql_mixed(db_url: str) -> None:
    """With a 5-event ring, a reconnect from any id replays exactly the events after it, and
    says where they came from: ring inside the window, mixed before it, live at the head."""
    async with live_server(make_settings(db_url, ring_max_events=5)) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            c = await cast(client)
            for _ in range(6):
                o = (await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)).json()["data"]
                await client.post(f"/api/v1/orders/{o['intent_id']}/cancel", headers=c.si.h)
            head = 12
            rng = random.Random(7)
            points = sorted({0, 1, 6, 7, 8, 11, head, *rng.sample(range(head), 4)})
            for k in points:
                ids, source = await read_from(client, c.si, k, head)
                assert ids == list(range(k + 1, head + 1)), k
                expected = "live" if k >= head else ("ring" if k + 1 >= head - 4 else "mixed")
                assert source == expected, (k, source)


async def test_resume_from_sql_only_after_retention(sqlite_url: str) -> None:
    """Once the ring's retention has passed on the domain clock, a replay comes from SQL."""
    async with live_server(make_settings(sqlite_url, ring_retention_ms=1000)) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            c = await cast(client)
            for _ in range(3):
                await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)
            ids, source = await read_from(client, c.si, 0, 3)
            assert (ids, source) == ([1, 2, 3], "ring")
            await advance(client, 5000)
            ids, source = await read_from(client, c.si, 1, 3)
            assert (ids, source) == ([2, 3], "sql")


async def test_reconnecting_client_sees_every_event_once(db_url: str) -> None:
    """A client that hangs up at random points while orders keep changing, and reconnects with
    its last id each time, ends with exactly 1..N — no gap, no duplicate — across the ring edge."""
    async with live_server(make_settings(db_url, ring_max_events=4)) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            c = await cast(client)
            total = 30
            rng = random.Random(11)

            async def produce() -> None:
                for _ in range(total // 2):
                    o = (await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)).json()[
                        "data"
                    ]
                    await client.post(f"/api/v1/orders/{o['intent_id']}/cancel", headers=c.si.h)

            producer = asyncio.create_task(produce())
            seen: list[int] = []
            last: int | None = 0  # from the very start, whatever was produced before we connected
            while not seen or seen[-1] < total:
                stop_after = rng.randint(1, 6)
                got: list[int] = []
                async with asyncio.timeout(10):
                    headers = dict(c.si.h)
                    if last is not None:
                        headers["Last-Event-ID"] = str(last)
                    async with aconnect_sse(client, "GET", "/api/v1/orders/events", headers=headers) as es:
                        async for ev in es.aiter_sse():
                            if ev.event == "heartbeat":
                                continue
                            got.append(int(ev.id))
                            if len(got) >= stop_after or got[-1] >= total:
                                break
                seen.extend(got)
                last = seen[-1] if seen else last
                if rng.random() < 0.3:
                    await asyncio.sleep(0.02)  # fall behind on purpose: the ring moves on meanwhile
            await producer
            assert seen == list(range(1, total + 1))
            r = await client.get(f"/_admin/streams/musubi/{c.si.party_id}", headers=ADMIN_HEADERS)
            assert r.json()["head"] == total


async def test_skip_makes_a_real_gap_that_resume_fills(sqlite_url: str) -> None:
    """After a control-API skip the live stream jumps over the withheld event (a visible gap in
    the ids); reconnecting from before the gap replays it."""
    async with live_server(make_settings(sqlite_url)) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            c = await cast(client)
            await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)  # id 1
            r = await client.post(
                f"/_admin/streams/musubi/{c.si.party_id}/skip", json={"count": 1}, headers=ADMIN_HEADERS
            )
            assert r.status_code == 200
            ids: list[int] = []
            async with asyncio.timeout(10):
                async with aconnect_sse(
                    client, "GET", "/api/v1/orders/events", headers={**c.si.h, "Last-Event-ID": "1"}
                ) as es:
                    await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)  # id 2, withheld
                    await client.post("/api/v1/orders", json=order_body(c), headers=c.si.h)  # id 3
                    async for ev in es.aiter_sse():
                        if ev.event != "heartbeat":
                            ids.append(int(ev.id))
                            break
            assert ids == [3]
            got, source = await read_from(client, c.si, 1, 3)
            assert (got, source) == ([2, 3], "ring")


async def test_slow_consumer_stream_ends_and_resume_recovers(sqlite_url: str) -> None:
    """A subscriber whose queue overflows is cut off (the SSE stream ends) instead of holding
    memory; reconnecting with Last-Event-ID gets every event."""
    async with live_server(make_settings(sqlite_url, subscriber_queue_max=2)) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            c = await cast(client)
            ids: list[int] = []
            async with asyncio.timeout(10):
                async with aconnect_sse(client, "GET", "/api/v1/orders/events", headers=c.si.h) as es:
                    # a commit larger than the bound reaches a reader that keeps up (§1.5): make
                    # this reader one that has already left its whole bound unread
                    key = ("musubi", c.si.party_id)
                    await wait_for(lambda: live.ctx.streams.subscriber_count(*key) == 1)
                    for sub in live.ctx.streams.hub.states[key].subscribers:
                        sub.queue_max = 0
                    r = await client.post(
                        f"/_admin/streams/musubi/{c.si.party_id}/events",
                        json={"kind": "order_updated", "body": {"n": 1}, "count": 10},
                        headers=ADMIN_HEADERS,
                    )
                    assert r.status_code == 201
                    async for ev in es.aiter_sse():  # ends: the server closes the stream
                        ids.append(int(ev.id))
            assert len(ids) < 10
            got, _source = await read_from(client, c.si, ids[-1] if ids else 0, 10)
            assert ids + got == list(range(1, 11))
