"""Musubi benchmarks, each next to a ceiling measured in the same run.

1. Authenticated `GET /api/v1/orders/{intent_id}` req/s over 50 keep-alive connections, next to
   the same app's no-op `GET /health`.
2. Orders taken from create to `SETTLED` per second by 50 concurrent institutions (frozen
   clock, advanced by the benchmark), next to the same request mix's raw HTTP capacity.
3. SSE deliveries/s to 200 connected participants, next to a bare sse-starlette endpoint
   pushing the same event bytes to 200 clients.

The server runs in a subprocess (pinned to one core when possible); the load comes from this
process (pinned to the other) through a minimal raw HTTP/1.1 client, so the client is not the
bottleneck the way a full HTTP client library would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from bench import jsonserver

ADMIN = "bench-admin"
ROOT = Path(__file__).resolve().parent.parent


# --- processes -------------------------------------------------------------------------------------
def _pin(cores: set[int]) -> None:
    with contextlib.suppress(Exception):
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, cores)


@contextlib.asynccontextmanager
async def server(**env: str) -> AsyncIterator[int]:
    """`refserver serve` on a free port, frozen clock, no seed; yields the port."""
    tmp = tempfile.mkdtemp(prefix="bench-musubi-")
    cmd = [
        sys.executable,
        "-c",
        "from app.cli import main; raise SystemExit(main())",
        "serve",
        "--port",
        "0",
        "--broker-ws-port",
        "0",
        "--clock",
        "frozen",
        "--seed",
        "none",
        "--admin-token",
        ADMIN,
        "--database-url",
        f"sqlite:///{tmp}/bench.db",
    ]
    if len(os.sched_getaffinity(0)) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    full_env = {**os.environ, "REFSERVER_MUSUBI_AUTO_QUOTE": "off", "REFSERVER_LOG_LEVEL": "warning", **env}
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(ROOT), env=full_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    port = 0
    async with asyncio.timeout(60):
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError("server did not start")
            if line.startswith(b"refserver listening"):
                port = int(line.split(b"http=")[1].split()[0])
                break
    try:
        yield port
    finally:
        proc.terminate()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(15):
                await proc.wait()
        if proc.returncode is None:
            proc.kill()


# --- a minimal HTTP/1.1 keep-alive client ----------------------------------------------------------
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int = 0) -> None:
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> Conn:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w, port)

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> tuple[int, bytes]:
        raw = b"" if body is None else orjson.dumps(body)
        head = f"{method} {path} HTTP/1.1\r\nhost: bench\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        if body is not None:
            head += f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n"
        data = head.encode() + b"\r\n" + raw
        try:
            self.writer.write(data)
            return await self.response()
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            # the server closes a keep-alive connection left idle past its timeout (a loaded
            # machine makes the set-up phases long): nothing was answered, open a new one once
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.write(data)
            return await self.response()

    async def send_raw(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        return await self.response()

    async def response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        i = head.lower().find(b"content-length:")
        n = int(head[i + 15 : head.index(b"\r\n", i)]) if i >= 0 else 0
        return status, await self.reader.readexactly(n) if n else b""

    def close(self) -> None:
        self.writer.close()


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


ADMIN_H = _auth(ADMIN)


async def participant(c: Conn, name: str, role: str) -> dict[str, str]:
    st, body = await c.request("POST", "/_admin/musubi/participants", ADMIN_H, {"name": name, "role": role})
    assert st == 201, body
    p: dict[str, str] = orjson.loads(body)
    st, body = await c.request(
        "POST", "/auth/token", None, {"client_id": p["client_id"], "client_secret": p["client_secret"]}
    )
    assert st == 200, body
    p["token"] = orjson.loads(body)["data"]["token"]
    return p


def order_body(
    si: dict[str, str], sc: dict[str, str], ri: dict[str, str], rc: dict[str, str]
) -> dict[str, Any]:
    del si
    return {
        "sender_custodian_party_id": sc["party_id"],
        "intent_signature": "3045022100ab",
        "receiver_party_id": ri["party_id"],
        "receiver_custodian_party_id": rc["party_id"],
        "source_contract_id": "00a3f7c21d83#0",
        "source_currency": "JPYSC0",
        "target_amount": "100000",
        "target_currency": "USDCx",
        "source_amount_max": "16000000",
        "kyc_aml_ref": "5b6a2351-440c-4f33-98f0-81e42bcd277b",
        "jurisdiction_sender": "JP",
        "jurisdiction_receiver": "KR",
        "memo": None,
    }


async def _rate(port: int, raw: bytes, conns: int, seconds: float) -> float:
    """Requests/s of one prebuilt request over `conns` keep-alive connections."""
    pool = [await Conn.open(port) for _ in range(conns)]
    for c in pool:  # warm up
        st, _ = await c.send_raw(raw)
        assert st == 200, st
    done = 0
    stop = time.perf_counter() + seconds

    async def loop(c: Conn) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await c.send_raw(raw)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in pool))
    elapsed = time.perf_counter() - t0
    for c in pool:
        c.close()
    return done / elapsed


# --- 1. GET one order --------------------------------------------------------------------------------
async def bench_get(quick: bool) -> list[dict[str, Any]]:
    """The GET, the no-op and json-server's GET by id measured in alternating rounds (json-server
    runs alongside, on the same core), the best round of each kept: the machine is shared, and
    the best round is the least disturbed one."""
    seconds = 1.0 if quick else 2.0
    rounds = 3 if quick else 5
    exe = jsonserver.binary()
    if exe is None:
        print("# musubi GET: json-server unreachable (npm), its comparison is skipped", file=sys.stderr)
    best: dict[str, float] = {"noop": 0.0, "get": 0.0, "json-server": 0.0}
    async with contextlib.AsyncExitStack() as stack:
        port = await stack.enter_async_context(server())
        c = await Conn.open(port)
        si, ri = await participant(c, "SI", "institution"), await participant(c, "RI", "institution")
        sc, rc = await participant(c, "SC", "custodian"), await participant(c, "RC", "custodian")
        st, body = await c.request("POST", "/api/v1/orders", _auth(si["token"]), order_body(si, sc, ri, rc))
        assert st == 201, body
        iid = orjson.loads(body)["data"]["intent_id"]
        c.close()
        get = f"GET /api/v1/orders/{iid} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {si['token']}\r\n\r\n".encode()
        noop = b"GET /health HTTP/1.1\r\nhost: bench\r\n\r\n"
        plan: list[tuple[str, int, bytes]] = [("noop", port, noop), ("get", port, get)]
        if exe is not None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            js_port = await stack.enter_async_context(jsonserver.json_server(exe, jsonserver.write_db(tmp)))
            js_get = f"GET /orders/{jsonserver.RECORD_ID} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()
            plan.append(("json-server", js_port, js_get))
        for _ in range(rounds):
            for name, p, raw in plan:
                best[name] = max(best[name], await _rate(p, raw, 50, seconds))
    rows: list[dict[str, Any]] = [
        {
            "name": "musubi GET /api/v1/orders/{id} (JWT, 50 conns)",
            "value": best["get"],
            "unit": "req/s",
            "ceiling": best["noop"],
            "ceiling_name": "no-op /health, same app",
            "goal": ">= 0.9 of ceiling",
        }
    ]
    if exe is not None:
        rows.append(
            {
                "name": "musubi GET /api/v1/orders/{id} vs json-server 0.17.4 GET /orders/1",
                "value": best["get"],
                "unit": "req/s",
                "ceiling": best["json-server"],
                "ceiling_name": "json-server GET by id, one-record db.json, same run",
                "goal": ">= 1.5 of ceiling",
            }
        )
    return rows


# --- 2. create → SETTLED -------------------------------------------------------------------------------
async def bench_settle(quick: bool) -> list[dict[str, Any]]:
    per_institution = 6 if quick else 12
    workers = 50
    async with server() as port:
        c = await Conn.open(port)
        ri, rc = await participant(c, "RI", "institution"), await participant(c, "RC", "custodian")
        custodians = [await participant(c, f"SC{i}", "custodian") for i in range(5)]
        insts = [await participant(c, f"SI{i}", "institution") for i in range(workers)]
        total = workers * per_institution
        created_ids: list[str] = []

        async def institution(k: int) -> None:
            si = insts[k]
            sc = custodians[k % len(custodians)]
            conn = await Conn.open(port)
            body = order_body(si, sc, ri, rc)
            for _ in range(per_institution):
                st, b = await conn.request("POST", "/api/v1/orders", _auth(si["token"]), body)
                assert st == 201, b
                iid = orjson.loads(b)["data"]["intent_id"]
                st, b = await conn.request("POST", f"/api/v1/orders/{iid}/accept", _auth(sc["token"]))
                assert st == 200, b
                st, b = await conn.request(
                    "POST", f"/_admin/musubi/orders/{iid}/quotes", ADMIN_H, {"fx_rate": "150"}
                )
                assert st == 201, b
                qid = orjson.loads(b)["quote_id"]
                st, b = await conn.request(
                    "POST", f"/api/v1/orders/{iid}/quotes/{qid}/accept", _auth(sc["token"])
                )
                assert st == 200, b
                created_ids.append(iid)
            conn.close()

        async def settled() -> int:
            n = 0
            for sc in custodians:
                _st, b = await c.request("GET", "/api/v1/dashboard/stats", _auth(sc["token"]))
                n += orjson.loads(b)["data"]["counts_by_status"]["SETTLED"]
            return n

        ticking = True

        async def ticker() -> None:
            tc = await Conn.open(port)
            while ticking:
                await tc.request("POST", "/_admin/clock", ADMIN_H, {"action": "advance", "ms": 1000})
                await asyncio.sleep(0.01)
            tc.close()

        t0 = time.perf_counter()
        tick = asyncio.create_task(ticker())
        await asyncio.gather(*(institution(k) for k in range(workers)))
        async with asyncio.timeout(60):
            while await settled() < total:  # noqa: ASYNC110 (polling the server over HTTP)
                await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - t0
        ticking = False
        await tick
        # ceiling: the same number of requests, each a no-op, over the same 50 connections
        noop = b"GET /health HTTP/1.1\r\nhost: bench\r\n\r\n"
        noop_rate = await _rate(port, noop, 50, 2.0 if quick else 3.0)
        c.close()
    return [
        {
            "name": "musubi orders create→SETTLED (50 institutions, 4 calls/order)",
            "value": total / elapsed,
            "unit": "orders/s",
            "ceiling": noop_rate / 4,
            "ceiling_name": "no-op /health req/s ÷ 4 calls per order",
            "goal": ">= 0.6 of ceiling",
        }
    ]


# --- 3. SSE fan-out -------------------------------------------------------------------------------------
class SseCounter:
    """A raw SSE client counting delivered frames of one event kind."""

    def __init__(self, kind: str = "order_updated") -> None:
        self.marker = b"event: " + kind.encode()
        self.count = 0
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def run(self, port: int, path: str, headers: dict[str, str]) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        head = f"GET {path} HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        w.write(head.encode() + b"\r\n")
        await r.readuntil(b"\r\n\r\n")
        self.ready.set()
        marker = self.marker
        keep = len(marker) - 1
        tail = b""
        try:
            while True:
                chunk = await r.read(262_144)
                if not chunk:
                    return
                buf = tail + chunk
                self.count += buf.count(marker)  # the tail is shorter than a marker: no double count
                tail = buf[-keep:]
        finally:
            w.close()


async def _fanout(port: int, clients: list[SseCounter], expected: int, push: Any) -> float:
    t0 = time.perf_counter()
    await push()
    async with asyncio.timeout(120):
        while sum(c.count for c in clients) < expected:  # noqa: ASYNC110 (200 counters, one check)
            await asyncio.sleep(0.002)
    return expected / (time.perf_counter() - t0)


async def bench_sse(quick: bool) -> list[dict[str, Any]]:
    n_clients = 200
    per_client = 100 if quick else 250
    payload: dict[str, Any] = {}
    async with server() as port:
        c = await Conn.open(port)
        si, ri = await participant(c, "SI", "institution"), await participant(c, "RI", "institution")
        sc, rc = await participant(c, "SC", "custodian"), await participant(c, "RC", "custodian")
        _st, body = await c.request("POST", "/api/v1/orders", _auth(si["token"]), order_body(si, sc, ri, rc))
        payload = orjson.loads(body)["data"]  # a real order_updated body
        parties = [await participant(c, f"P{i}", "institution") for i in range(n_clients)]
        clients = [SseCounter() for _ in parties]
        for cl, p in zip(clients, parties, strict=True):
            cl.task = asyncio.create_task(cl.run(port, "/api/v1/orders/events", _auth(p["token"])))
        await asyncio.gather(*(cl.ready.wait() for cl in clients))

        conns = [await Conn.open(port) for _ in range(50)]

        async def push() -> None:
            # every participant's events appended at once (50 writers): group commit batches them
            async def one(conn: Conn, ks: range) -> None:
                for k in ks:
                    st, b = await conn.request(
                        "POST",
                        f"/_admin/streams/musubi/{parties[k]['party_id']}/events",
                        ADMIN_H,
                        {"kind": "order_updated", "body": payload, "count": per_client},
                    )
                    assert st == 201, b

            per = n_clients // len(conns)
            await asyncio.gather(*(one(conn, range(i * per, (i + 1) * per)) for i, conn in enumerate(conns)))

        value = await _fanout(port, clients, n_clients * per_client, push)
        for cl in clients:
            assert cl.task is not None
            cl.task.cancel()
        for conn in conns:
            conn.close()
        c.close()
    ceiling = await bare_sse(n_clients, per_client, orjson.dumps(payload), "order_updated")
    return [
        {
            "name": "musubi SSE deliveries, 200 participants × own order_updated stream (written in the run)",
            "value": value,
            "unit": "events/s",
            "ceiling": ceiling,
            "ceiling_name": "bare sse-starlette, same events",
            "goal": ">= 0.5 of ceiling",
        }
    ]


async def bench_sse_rfq(quick: bool) -> list[dict[str, Any]]:
    """200 market makers on /api/v1/events; custodians open RFQs: each accept fans one
    quote_request_created out to every maker (one commit of 200 events)."""
    n_makers = 200
    n_orders = 100 if quick else 200
    rfq: bytes = b""
    async with server() as port:
        c = await Conn.open(port)
        si, ri = await participant(c, "SI", "institution"), await participant(c, "RI", "institution")
        sc, rc = await participant(c, "SC", "custodian"), await participant(c, "RC", "custodian")
        makers = [await participant(c, f"MM{i}", "market-maker") for i in range(n_makers)]
        ids = []
        for _ in range(n_orders):
            _st, body = await c.request(
                "POST", "/api/v1/orders", _auth(si["token"]), order_body(si, sc, ri, rc)
            )
            ids.append(orjson.loads(body)["data"]["intent_id"])
        clients = [SseCounter("quote_request_created") for _ in makers]
        for cl, p in zip(clients, makers, strict=True):
            cl.task = asyncio.create_task(cl.run(port, "/api/v1/events", _auth(p["token"])))
        await asyncio.gather(*(cl.ready.wait() for cl in clients))
        conns = [await Conn.open(port) for _ in range(50)]

        async def push() -> None:
            async def one(conn: Conn, chunk: list[str]) -> None:
                for iid in chunk:
                    st, b = await conn.request("POST", f"/api/v1/orders/{iid}/accept", _auth(sc["token"]))
                    assert st == 200, b

            await asyncio.gather(*(one(conn, ids[i :: len(conns)]) for i, conn in enumerate(conns)))

        value = await _fanout(port, clients, n_makers * n_orders, push)
        _st, body = await c.request("GET", f"/api/v1/quote-requests/{ids[0]}", _auth(makers[0]["token"]))
        rfq = orjson.dumps(orjson.loads(body)["data"])
        for cl in clients:
            assert cl.task is not None
            cl.task.cancel()
        for conn in conns:
            conn.close()
        c.close()
    ceiling = await bare_sse(n_makers, n_orders, rfq, "quote_request_created")
    return [
        {
            "name": "musubi SSE deliveries, RFQ fan-out to 200 market makers (accepts in the run)",
            "value": value,
            "unit": "events/s",
            "ceiling": ceiling,
            "ceiling_name": "bare sse-starlette, same events",
            "goal": ">= 0.5 of ceiling",
        }
    ]


BARE_APP = r"""
import asyncio, sys
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

payload = open(sys.argv[2], "rb").read().decode()
n = int(sys.argv[3])
kind = sys.argv[4]
go = asyncio.Event()

async def sse(request):
    async def gen():
        await go.wait()
        for i in range(n):
            yield ServerSentEvent(data=payload, event=kind, id=str(i + 1))
    return EventSourceResponse(gen(), ping=30)

async def start(request):
    go.set()
    return Response(b"{}", media_type="application/json", headers={"content-length": "2"})

app = Starlette(routes=[Route("/sse", sse), Route("/go", start, methods=["POST"])])
import uvicorn
config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
uvicorn.Server(config).run()
"""


async def bare_sse(n_clients: int, per_client: int, payload: bytes, kind: str) -> float:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    (tmp / "app.py").write_text(BARE_APP)
    (tmp / "payload.json").write_bytes(payload)
    cmd = [sys.executable, str(tmp / "app.py"), str(port), str(tmp / "payload.json"), str(per_client), kind]
    if len(os.sched_getaffinity(0)) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    _r, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        clients = [SseCounter(kind) for _ in range(n_clients)]
        for cl in clients:
            cl.task = asyncio.create_task(cl.run(port, "/sse", {}))
        await asyncio.gather(*(cl.ready.wait() for cl in clients))

        async def push() -> None:
            conn = await Conn.open(port)
            await conn.request("POST", "/go")
            conn.close()

        value = await _fanout(port, clients, n_clients * per_client, push)
        for cl in clients:
            assert cl.task is not None
            cl.task.cancel()
        return value
    finally:
        proc.terminate()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await proc.wait()


async def run(quick: bool) -> list[dict[str, Any]]:
    _pin({1})
    rows: list[dict[str, Any]] = []
    rows += await bench_get(quick)
    rows += await bench_settle(quick)
    rows += await bench_sse(quick)
    rows += await bench_sse_rfq(quick)
    return rows


if __name__ == "__main__":
    from bench.run import print_table

    print_table(asyncio.run(run("--quick" in sys.argv)))
