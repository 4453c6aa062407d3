"""Foundation figures: sequenced appends, replay, in-process fan-out, append over HTTP."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from typing import Any

import orjson

from app.clock import DomainClock
from app.db import Database
from app.engine.streams import NewEvent, Streams

BODY = {
    "intent_id": "5b3f0c1e-7c1a-4b7e-9a51-0c1f2d3e4f50",
    "status": "QUOTED",
    "fx_rate": "150.123400",
    "target_amount": "1000.000000",
    "updated_at": "2025-03-15T09:00:00.000Z",
    "n": 0,
}


def fresh_db(tmp: str, name: str) -> str:
    url = f"sqlite:///{tmp}/{name}.db"
    db = Database(url)
    db.migrate()
    db.dispose()
    return url


def raw_sqlite_ceiling(tmp: str, n: int, streams: int, batch: int = 1000) -> float:
    """Raw sqlite3, WAL: seq block per stream + executemany, `batch` rows per transaction."""
    path = f"{tmp}/raw{streams}.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE h (family TEXT, stream TEXT, head INTEGER, PRIMARY KEY (family, stream))")
    con.execute(
        "CREATE TABLE e (family TEXT, stream TEXT, seq INTEGER, ts_ms INTEGER, kind TEXT, ref TEXT, payload BLOB, PRIMARY KEY (family, stream, seq))"
    )
    heads = {f"s{i}": 0 for i in range(streams)}
    payload = orjson.dumps(BODY)
    t0 = time.perf_counter()
    done = 0
    i = 0
    while done < n:
        rows = []
        per: dict[str, int] = {}
        for _ in range(batch):
            s = f"s{i % streams}"
            i += 1
            per[s] = per.get(s, 0) + 1
        con.execute("BEGIN IMMEDIATE")
        for s, c in per.items():
            con.execute("INSERT INTO h VALUES ('f', ?, 0) ON CONFLICT DO NOTHING", (s,))
            con.execute("UPDATE h SET head = head + ? WHERE family='f' AND stream=?", (c, s))
            start = heads[s]
            heads[s] += c
            rows.extend(("f", s, start + k + 1, 0, "x", None, payload) for k in range(c))
        con.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?)", rows)
        con.execute("COMMIT")
        done += batch
    took = time.perf_counter() - t0
    con.close()
    return n / took


async def appends(url: str, producers: int, streams: int, seconds: float) -> float:
    db = Database(url)
    s = Streams(db, DomainClock(frozen=True))
    s.start()
    count = 0
    stop = time.perf_counter() + seconds

    async def producer(p: int) -> None:
        nonlocal count
        i = p
        while time.perf_counter() < stop:
            await s.append("musubi", f"s{i % streams}", "x", BODY)
            i += producers
            count += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(producer(p) for p in range(producers)))
    took = time.perf_counter() - t0
    await s.close()
    db.dispose()
    return count / took


def raw_sqlite_one_latency(tmp: str, n: int) -> float:
    """p50 ms of one event per transaction in raw sqlite3 (WAL, NORMAL): head update + insert."""
    con = sqlite3.connect(f"{tmp}/raw_lat.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE h (family TEXT, stream TEXT, head INTEGER, PRIMARY KEY (family, stream))")
    con.execute(
        "CREATE TABLE e (family TEXT, stream TEXT, seq INTEGER, payload BLOB, PRIMARY KEY (family, stream, seq))"
    )
    con.execute("INSERT INTO h VALUES ('f', 's', 0)")
    payload = orjson.dumps(BODY)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        (head,) = con.execute(
            "UPDATE h SET head = head + 1 WHERE family='f' AND stream='s' RETURNING head"
        ).fetchone()
        con.execute("INSERT INTO e VALUES ('f', 's', ?, ?)", (head, payload))
        con.execute("COMMIT")
        lat.append(time.perf_counter() - t)
    con.close()
    lat.sort()
    return lat[len(lat) // 2] * 1000


async def append_latency(url: str, n: int) -> float:
    """p50 ms of one awaited append at a time (one producer, one stream), in-process."""
    db = Database(url)
    s = Streams(db, DomainClock(frozen=True))
    s.start()
    for _ in range(50):  # warm-up
        await s.append("musubi", "lat", "x", BODY)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        await s.append("musubi", "lat", "x", BODY)
        lat.append(time.perf_counter() - t)
    await s.close()
    db.dispose()
    lat.sort()
    return lat[len(lat) // 2] * 1000


async def replay(url: str, n: int = 10_000) -> tuple[float, float]:
    db = Database(url)
    s = Streams(db, DomainClock(frozen=True), ring_max_events=n)
    s.start()
    for k in range(0, n, 1000):
        await s.append_many([NewEvent("musubi", "r", "x", dict(BODY, n=k + j)) for j in range(1000)])
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        res = await s.read("musubi", "r", 1, n)
        assert res.source == "ring" and len(res.events) == n
    ring_rate = reps * n / (time.perf_counter() - t0)
    await s.close()
    s2 = Streams(db, DomainClock(frozen=True), ring_max_events=n)  # fresh process: empty ring
    s2.start()
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        res = await s2.read("musubi", "r", 1, n)
        assert res.source == "sql" and len(res.events) == n
    sql_rate = reps * n / (time.perf_counter() - t0)
    await s2.close()
    db.dispose()
    return ring_rate, sql_rate


async def fanout(url: str, subscribers: int, events: int) -> float:
    """Hub → subscribers only: committed events published as the sequencer does after COMMIT."""
    from app.engine.streams import Event

    db = Database(url)
    s = Streams(db, DomainClock(frozen=True), queue_max=events + 10)
    subs = [await s.subscribe("musubi", "f") for _ in range(subscribers)]
    data = orjson.dumps(BODY)
    all_events = [Event("musubi", "f", i, 0, "x", None, data) for i in range(1, events + 1)]
    received = 0

    async def consume(sub: Any) -> None:
        nonlocal received
        got = 0
        while got < events:
            got += len(await sub.next_batch())
        received += got

    tasks = [asyncio.create_task(consume(x)) for x in subs]
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    batch = 50
    for k in range(0, events, batch):
        s.hub.publish(all_events[k : k + batch])
        await asyncio.sleep(0)  # let subscribers run between commits, as the event loop does
    await asyncio.gather(*tasks)
    took = time.perf_counter() - t0
    db.dispose()
    return received / took


async def run(quick: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    secs = 1.5 if quick else 3.0
    with tempfile.TemporaryDirectory() as tmp:
        for streams in (1, 1000):
            ceiling = raw_sqlite_ceiling(tmp, 100_000 if quick else 200_000, streams)
            for producers in (1, 16, 256):
                url = fresh_db(tmp, f"a{streams}_{producers}")
                rate = await appends(url, producers, streams, secs)
                rows.append(
                    {
                        "name": f"appends/s, {producers} producers, {streams} stream(s)",
                        "value": rate,
                        "unit": "events/s",
                        "ceiling": ceiling,
                        "ceiling_name": f"raw sqlite3 executemany, 1000/txn, {streams} stream(s)",
                        "goal": ">= 0.25 of ceiling at 256 producers" if producers == 256 else None,
                    }
                )
        n_lat = 1_000 if quick else 3_000
        raw_p50 = raw_sqlite_one_latency(tmp, n_lat)
        p50 = await append_latency(fresh_db(tmp, "latency"), n_lat)
        rows.append(
            {
                "name": "one-producer append latency p50 (in-process, 1 stream, awaited one at a time)",
                "value": p50,
                "unit": "ms",
                "ceiling": raw_p50,
                "ceiling_name": "raw sqlite3, one event per transaction, p50 ms",
                "goal": "<= 0.2 ms",
            }
        )
        url = fresh_db(tmp, "replay")
        ring_rate, sql_rate = await replay(url)
        rows.append(
            {
                "name": "replay 10,000 events from the ring",
                "value": ring_rate,
                "unit": "events/s",
                "ceiling": None,
                "ceiling_name": None,
                "goal": ">= 1,000,000",
            }
        )
        rows.append(
            {
                "name": "replay 10,000 events from SQL",
                "value": sql_rate,
                "unit": "events/s",
                "ceiling": None,
                "ceiling_name": None,
                "goal": ">= 100,000",
            }
        )
        for subs in (1, 100, 1000):
            url = fresh_db(tmp, f"f{subs}")
            n = 20_000 if subs == 1 else (2_000 if subs == 100 else 300)
            rate = await fanout(url, subs, n)
            rows.append(
                {
                    "name": f"in-process fan-out to {subs} subscriber(s)",
                    "value": rate,
                    "unit": "deliveries/s",
                    "ceiling": None,
                    "ceiling_name": None,
                    "goal": ">= 500,000",
                }
            )
        rows.extend(http_rows(tmp, secs))
    return rows


def http_rows(tmp: str, secs: float) -> list[dict[str, Any]]:
    from bench.server import load, serve

    url = fresh_db(tmp, "http")
    body = orjson.dumps(BODY).decode()
    with serve(database_url=url) as port:
        noop = load(port, "/bench/noop/s", method="POST", body=body, connections=50, seconds=secs)
        app = load(port, "/bench/append/s", method="POST", body=body, connections=50, seconds=secs)
    return [
        {
            "name": "HTTP POST appending one event (50 connections)",
            "value": app["rps"],
            "unit": "req/s",
            "ceiling": noop["rps"],
            "ceiling_name": "no-op POST route, same app",
            "goal": ">= 0.6 of no-op",
            "p50_ms": app["p50_ms"],
            "p99_ms": app["p99_ms"],
        }
    ]
