"""Order Entry figures, each next to a ceiling measured in the same run.

- matching engine alone, in-process: orders/s (goal ≥ 50,000)
- end to end over HTTP against a real uvicorn in a subprocess (server pinned to one core, the
  load generator — a raw keep-alive HTTP/1.1 client in another process — to the other):
  signed single-action requests/s and actions/s in batches of 50, next to the app's no-op
  route `GET /health` loaded the same way
- submit → execution event on the WebSocket at a steady 200 orders/s: p50 / p99
- gap-fill of 10,000 events over HTTP, from the ring and from SQL: events/s

Run: `python -m bench.run order_entry --quick`. The load generator is this module too
(`python -m bench.bench_order_entry load '<json>'`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import ADMIN, serve_cmd

ROOT = Path(__file__).resolve().parent.parent


def _row(
    name: str, value: float, unit: str, ceiling: float | None, ceiling_name: str | None, goal: str | None
) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "ceiling": ceiling,
        "ceiling_name": ceiling_name,
        "goal": goal,
    }


def _pin(cpu: int) -> Callable[[], None] | None:
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


# --- 1. the matching engine alone -------------------------------------------------------------------
def engine_orders_per_s(n: int) -> float:
    from app.engine.order_entry.markets import MARKETS
    from app.engine.order_entry.matching import Place, ShardEngine, new_order
    from app.engine.order_entry.model import VenueState

    st = VenueState()
    markets = [m for m in MARKETS if m.shard == 0]
    engine = ShardEngine(0, markets, st)
    accounts = [f"0x{i:040x}" for i in range(1, 9)]
    for a in accounts:
        for asset in ("USDC", "BTC", "ETH"):
            st.ledger.credit(a, asset, 10**15)
    rng = random.Random(1)
    plan = []
    for _ in range(n):
        m = rng.choice(markets)
        plan.append(
            (
                rng.choice(accounts),
                m,
                rng.choice(("Bid", "Ask")),
                m.mid + rng.randint(-20, 20) * m.tick,
                rng.randint(1, 10) * m.min_qty,
                rng.choice(("gtc", "gtc", "ioc", "post_only")),
            )
        )
    t0 = time.perf_counter()
    for i, (acct, m, side, price, qty, tif) in enumerate(plan):
        order = new_order(st, acct, None, m, side, price, qty, tif, i)
        if st.ledger.reserve(acct, order.reserve_asset, order.reserved):
            st.track(order)
            engine.apply(Place(order), i)
        if i % 1000 == 999:
            st.take()  # what a worker hands to the database after each batch
    return n / (time.perf_counter() - t0)


# --- the server in a subprocess -----------------------------------------------------------------------
class Server:
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        env = dict(os.environ, REFSERVER_OE_LIQUIDITY="on", REFSERVER_LOG_LEVEL="error")
        cmd = serve_cmd(f"sqlite:///{self.db_path}", "--seed", "none", "--log-level", "error")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=_pin(0)
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "http=" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split("http=")[1].split()[0])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(Exception):
                self.proc.wait(15)
            if self.proc.poll() is None:
                self.proc.kill()


# --- a raw keep-alive HTTP/1.1 client (load generator) -----------------------------------------------
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def call(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        low = head.lower()
        i = low.find(b"content-length:")
        length = int(low[i + 15 : low.index(b"\r\n", i)]) if i >= 0 else 0
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Signer:
    def __init__(self, creds: dict[str, Any]) -> None:
        self.c = creds
        self.nonce = time.time_ns() // 1000
        # payload nonces must pass the account's floor: a signer made later for the same account
        # (the timed phase after the warm-up, the next load on the same agents) starts above
        # what an earlier one used, or its actions would be NONCE_REPLAY refusals
        self.payload_nonce = time.time_ns() // 1000

    def headers(self, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
        from app.engine.order_entry import auth

        self.nonce += 1
        n = str(self.nonce)
        ts = str(time.time_ns() // 1_000_000)
        sig = auth.sign(
            self.c["apiSecret"], auth.canonical_string(self.c["apiKeyId"], n, ts, method, path, query, body)
        )
        return {
            "sc-auth-version": "2",
            "sc-key": self.c["apiKeyId"],
            "sc-nonce": n,
            "sc-timestamp": ts,
            "sc-passphrase": self.c["apiPassphrase"],
            "sc-signature": sig,
            "content-type": "application/json",
        }

    def batch(self, n: int, price: int = 1, coid: str | None = None, tif: str = "ioc") -> bytes:
        actions = []
        for _ in range(n):
            self.payload_nonce += 1
            place: dict[str, Any] = {
                "market": 1,
                "side": "Bid",
                "price": price,
                "qty": 1,
                "timeInForce": tif,
            }
            if coid is not None:
                place["clientOrderId"] = coid
            actions.append(
                {
                    "payload": {
                        "account": self.c["account"],
                        "nonce": self.payload_nonce,
                        "ts": 0,
                        "action": {"SpotPlaceOrder": place},
                    },
                    "signature": {"scheme": "EcdsaSecp256k1", "bytes": "0x00"},
                }
            )
        return orjson.dumps({"version": 1, "actions": actions})

    def place_request(self, n: int, coid: str | None = None, tif: str = "ioc") -> bytes:
        path = "/api/v1/order-entry/orders"
        body = self.batch(n, coid=coid, tif=tif)
        return _request("POST", path, self.headers("POST", path, "", body), body)


async def _load(cfg: dict[str, Any]) -> dict[str, Any]:
    """Closed-loop load on `connections` keep-alive connections for `duration` seconds."""
    port, mode, duration = cfg["port"], cfg["mode"], cfg["duration"]
    creds = cfg.get("creds") or []
    noop = _request("GET", "/health", {})
    done = 0
    errors = 0
    refused = 0  # actions refused at admission (a figure counts accepted work only)

    async def worker(i: int, stop_at: float) -> None:
        nonlocal done, errors, refused
        conn = await Conn.open(port)
        signer = Signer(creds[i]) if creds else None
        try:
            while time.perf_counter() < stop_at:
                if mode == "noop":
                    raw = noop
                else:
                    assert signer is not None
                    # ioc far from the book: NEW + CANCELED; gtc far from the book: NEW, and it rests
                    tif = "gtc" if mode == "batch50-gtc" else "ioc"
                    raw = signer.place_request(1 if mode == "single" else 50, tif=tif)
                status, body = await conn.call(raw)
                if status == 200:
                    done += 1
                    refused += body.count(b'"accepted":false')
                else:
                    errors += 1
        finally:
            conn.close()

    warm = time.perf_counter() + min(0.5, duration / 4)
    await asyncio.gather(*(worker(i, warm) for i in range(cfg["connections"])))
    done = errors = refused = 0
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i, t0 + duration) for i in range(cfg["connections"])))
    if refused:
        raise RuntimeError(f"{refused} actions refused at admission during a timed load")
    return {"per_s": done / (time.perf_counter() - t0), "errors": errors}


def _run_load(cfg: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_order_entry", "load", json.dumps(cfg)],
        cwd=ROOT,
        capture_output=True,
        preexec_fn=_pin(1),
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return result


# --- helpers against the running server ---------------------------------------------------------------
async def _admin(conn: Conn, method: str, path: str, body: Any) -> Any:
    raw = orjson.dumps(body)
    status, out = await conn.call(
        _request(method, path, {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"}, raw)
    )
    assert status in (200, 201), out
    return orjson.loads(out)


async def _agents(port: int, n: int) -> list[dict[str, Any]]:
    conn = await Conn.open(port)
    out = []
    for _ in range(n):
        creds = await _admin(conn, "POST", "/_admin/order-entry/agents", {})
        await _admin(
            conn,
            "POST",
            f"/_admin/order-entry/accounts/{creds['account']}/fund",
            {"balances": {"USDC": 10**15, "BTC": 10**12}},
        )
        out.append(creds)
    conn.close()
    return out


async def _latency(port: int, creds: dict[str, Any], rate: int, seconds: float) -> tuple[float, float, int]:
    from websockets.asyncio.client import connect

    signer = Signer(creds)
    conn = await Conn.open(port)
    path = "/api/v1/ws/token"
    _status, body = await conn.call(_request("POST", path, signer.headers("POST", path, "", b"")))
    token = orjson.loads(body)["token"]
    sent: dict[str, float] = {}
    lat: list[float] = []
    all_seen = asyncio.Event()
    url = f"ws://127.0.0.1:{port}/api/v1/ws/private/{creds['account']}"
    async with connect(url) as ws:
        await ws.send(orjson.dumps({"op": "authenticate", "token": token}).decode())
        await ws.recv()  # authenticated: subscribed, every later event will arrive

        async def reader() -> None:
            async for raw in ws:
                now = time.perf_counter()
                frame = orjson.loads(raw)
                data = frame.get("data")
                if data and data.get("status") == "NEW":
                    t = sent.pop(data.get("clientOrderId"), None)
                    if t is not None:
                        lat.append((now - t) * 1000)
                    if not sent and len(lat) >= n:
                        all_seen.set()

        n = int(rate * seconds)
        rtask = asyncio.create_task(reader())
        t0 = time.perf_counter()
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            coid = f"lat-{i}"
            raw = signer.place_request(1, coid=coid)
            sent[coid] = time.perf_counter()
            await conn.call(raw)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_seen.wait(), 2)
        rtask.cancel()
        with contextlib.suppress(BaseException):
            await rtask
    conn.close()
    lat.sort()
    if not lat:
        return 0.0, 0.0, 0
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], len(lat)


async def _gap_fill(
    port: int, creds: dict[str, Any], total: int, repeats: int
) -> tuple[float, float, str, str]:
    signer = Signer(creds)
    conn = await Conn.open(port)
    for _ in range(total // 100):  # 50 ioc orders → 100 events (NEW + CANCELED)
        status, body = await conn.call(signer.place_request(50))
        assert status == 200, body
    path = f"/api/v1/order-entry/accounts/{creds['account']}/executions"

    async def timed(from_seq: int) -> tuple[float, str]:
        times = []
        source = ""
        for _ in range(repeats):
            q = f"fromSeq={from_seq}&limit=10000"
            raw = _request("GET", f"{path}?{q}", signer.headers("GET", path, q, b""))
            t0 = time.perf_counter()
            status, body = await conn.call(raw)
            times.append(time.perf_counter() - t0)
            page = orjson.loads(body)
            assert status == 200 and len(page["events"]) == 10_000, (status, len(page.get("events", [])))
            source = page["source"]
        return 10_000 / statistics.median(times), source

    await asyncio.sleep(0.3)  # let the last commits land before timing reads
    ring, ring_src = await timed(total - 10_000 + 1)
    sql, sql_src = await timed(1)
    conn.close()
    return ring, sql, ring_src, sql_src


async def run(quick: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    eng = engine_orders_per_s(50_000 if quick else 200_000)
    rows.append(_row("order-entry: matching engine alone", eng, "orders/s", None, None, ">= 50,000"))

    duration = 2.0 if quick else 5.0
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(str(Path(tmp) / "bench.db"))
        server.start()
        try:
            port = server.port
            conns = 16
            creds = await _agents(port, conns + 2)
            noop = _run_load({"port": port, "mode": "noop", "duration": duration, "connections": conns})
            single = _run_load(
                {
                    "port": port,
                    "mode": "single",
                    "duration": duration,
                    "connections": conns,
                    "creds": creds[:conns],
                }
            )
            batch = _run_load(
                {"port": port, "mode": "batch50", "duration": duration, "connections": 8, "creds": creds[:8]}
            )
            rows.append(
                _row(
                    "order-entry: signed single-action orders over HTTP",
                    single["per_s"],
                    "req/s",
                    noop["per_s"],
                    "no-op GET /health, same app",
                    ">= 0.6 of ceiling",
                )
            )
            resting = _run_load(
                {
                    "port": port,
                    "mode": "batch50-gtc",
                    "duration": duration,
                    "connections": 8,
                    "creds": creds[8:16],
                }
            )
            rows.append(
                _row(
                    "order-entry: actions in signed batches of 50 (ioc: NEW + CANCELED each)",
                    batch["per_s"] * 50,
                    "actions/s",
                    eng,
                    "matching engine alone, same run",
                    ">= 0.5 of ceiling",
                )
            )
            rows.append(
                _row(
                    "order-entry: actions in signed batches of 50 (gtc that rest: NEW each)",
                    resting["per_s"] * 50,
                    "actions/s",
                    eng,
                    "matching engine alone, same run",
                    ">= 0.5 of ceiling",
                )
            )
            p50, p99, n = await _latency(port, creds[conns], 200, 2.0 if quick else 5.0)
            rows.append(
                _row(f"order-entry: submit → WS event p50 @200 orders/s (n={n})", p50, "ms", None, None, None)
            )
            rows.append(
                _row(
                    f"order-entry: submit → WS event p99 @200 orders/s (n={n})",
                    p99,
                    "ms",
                    None,
                    None,
                    "<= 25 ms",
                )
            )
            ring, sql, rsrc, ssrc = await _gap_fill(port, creds[conns + 1], 20_000, 3 if quick else 7)
            rows.append(
                _row(
                    f"order-entry: gap-fill 10,000 events over HTTP ({rsrc})",
                    ring,
                    "events/s",
                    None,
                    None,
                    None,
                )
            )
            rows.append(
                _row(
                    f"order-entry: gap-fill 10,000 events over HTTP ({ssrc})",
                    sql,
                    "events/s",
                    ring,
                    "ring read",
                    None,
                )
            )
        finally:
            server.stop()
    return rows


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "load":
        print(json.dumps(asyncio.run(_load(json.loads(sys.argv[2])))))
    else:
        for r in asyncio.run(run("--quick" in sys.argv)):
            print(r)
