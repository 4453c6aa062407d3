"""FIX drop-copy figures (CONTRACT §4.6), against a real server in a subprocess.

- ExecutionReports/s copied to 10 FIX sessions of one account, next to the private WebSocket
  fan-out of the same events to 10 connections in the same run (both connected at once, the
  same orders submitted as fast as one connection can: 50 ioc orders per signed batch, NEW +
  CANCELED each). Each figure is events × connections / (time the last connection had the
  last event − first submit). Both clients count messages in the raw bytes (no parsing), so
  the client side costs the same for both.
- A ResendRequest of 10,000 reports after a server restart (the ring is empty, so every event
  is read from SQL and rebuilt): messages/s.

Run: `python -m bench.run fix --quick`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from typing import Any

from bench.bench_order_entry import Conn, Server, Signer, _agents, _request, _row

SOH = "\x01"
SESSIONS = 10


def _fix(fields: list[tuple[int, Any]]) -> bytes:
    body = "".join(f"{t}={v}{SOH}" for t, v in fields)
    head = f"8=FIX.4.4{SOH}9={len(body)}{SOH}"
    total = (head + body).encode()
    return total + f"10={sum(total) % 256:03d}{SOH}".encode()


def _now() -> str:
    ms = time.time_ns() // 1_000_000
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"


PROGRESS = asyncio.Event()  # set whenever a counter reads


class Counter:
    """Reads a connection and counts a byte pattern; `done_at` when `want` were seen."""

    def __init__(self, reader: asyncio.StreamReader, pattern: bytes) -> None:
        self.reader = reader
        self.pattern = pattern
        self.count = 0
        self.want = 0
        self.done_at = 0.0
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self, want: int) -> None:
        self.want = want
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        tail = b""
        keep = len(self.pattern) - 1
        while self.count < self.want:
            chunk = await self.reader.read(1 << 18)
            if not chunk:
                break
            data = tail + chunk
            self.count += data.count(self.pattern)
            PROGRESS.set()
            tail = data[-keep:]
        self.done_at = time.perf_counter()
        self.done.set()


async def fix_logon(
    port: int, creds: dict[str, Any], sender: str, seq: int = 1
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    st = _now()
    signed = SOH.join([st, "A", str(seq), sender, "REFSERVER"]).encode()
    raw = base64.b64encode(hmac.new(creds["apiSecret"].encode(), signed, hashlib.sha256).digest()).decode()
    writer.write(
        _fix(
            [
                (35, "A"),
                (34, seq),
                (49, sender),
                (56, "REFSERVER"),
                (52, st),
                (98, 0),
                (108, 300),
                (553, creds["apiKeyId"]),
                (554, creds["apiPassphrase"]),
                (95, len(raw)),
                (96, raw),
            ]
        )
    )
    head = await reader.readuntil(b"\x0110=")
    await reader.readexactly(4)
    assert b"\x0135=A\x01" in head, head
    return reader, writer


async def ws_open(
    port: int, signer: Signer, account: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    conn = await Conn.open(port)
    path = "/api/v1/ws/token"
    status, body = await conn.call(_request("POST", path, signer.headers("POST", path, "", b"")))
    assert status == 200, body
    import orjson

    token = orjson.loads(body)["token"]
    conn.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /api/v1/ws/private/{account}?token={token} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: {key}\r\n"
            "sec-websocket-version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def _produce(
    port: int, signer: Signer, batches: int, counters: list[Counter], window: int = 2000
) -> None:
    """Batches of 50 ioc orders (100 events each), never more than `window` events ahead of the
    slowest connection: the pace is what every connection keeps up with (a WebSocket that
    falls 4,096 events behind is closed as a slow consumer)."""
    conn = await Conn.open(port)
    for i in range(batches):
        while counters and (i * 100) - min(c.count for c in counters) > window:
            PROGRESS.clear()
            await PROGRESS.wait()
        status, body = await conn.call(signer.place_request(50))
        assert status == 200, body
    conn.close()


async def fan_out(
    port: int, fix_port: int, creds: dict[str, Any], signer: Signer, events: int, kind: str
) -> float:
    """`events` events copied to SESSIONS connections of one kind ("fix" or "ws"): deliveries/s."""
    account = creds["account"]
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    counters: list[Counter] = []
    if kind == "fix":
        conns = [await fix_logon(fix_port, creds, f"BENCH{i}") for i in range(SESSIONS)]
        counters = [Counter(r, b"\x0135=8\x01") for r, _w in conns]
    elif kind == "ws":
        conns = [await ws_open(port, signer, account) for _ in range(SESSIONS)]
        counters = [Counter(r, b'"channel":"executions"') for r, _w in conns]
    for c in counters:
        c.start(events)
    t0 = time.perf_counter()
    await _produce(port, signer, events // 100, counters)
    async with asyncio.timeout(180):
        await asyncio.gather(*(c.done.wait() for c in counters))
    assert all(c.count >= events for c in counters), [c.count for c in counters]
    end = max((c.done_at for c in counters), default=time.perf_counter())
    rate = events * SESSIONS / (end - t0)
    for _r, w in conns:
        w.close()
    return rate


async def resend(fix_port: int, creds: dict[str, Any], count: int) -> float:
    """BENCH0 carried reports 2…; log on again and ask for `count` of them."""
    reader, writer = await fix_logon(fix_port, creds, "BENCH0", seq=2)
    counter = Counter(reader, b"\x0143=Y\x01")
    writer.write(
        _fix([(35, "2"), (34, 3), (49, "BENCH0"), (56, "REFSERVER"), (52, _now()), (7, 2), (16, count + 1)])
    )
    t0 = time.perf_counter()
    counter.start(count)
    async with asyncio.timeout(120):
        await counter.done.wait()
    assert counter.count >= count, counter.count
    writer.close()
    return count / (counter.done_at - t0)


async def run(quick: bool) -> list[dict[str, Any]]:
    import tempfile
    from pathlib import Path

    events = 20_000 if quick else 50_000
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = _LineServer(str(Path(tmp) / "bench.db"))
        server.start()
        try:
            (creds,) = await _agents(server.port, 1)
            signer = Signer(creds)
            alone = await fan_out(server.port, server.fix_port, creds, signer, events, "none")
            ws_rate = await fan_out(server.port, server.fix_port, creds, signer, events, "ws")
            fix_rate = await fan_out(server.port, server.fix_port, creds, signer, events, "fix")
        finally:
            server.stop()
        server.start()  # same database, empty ring: the resend reads SQL
        try:
            resend_rate = await resend(server.fix_port, creds, 10_000)
        finally:
            server.stop()
    rows.append(
        _row(
            f"fix: ExecutionReports copied to {SESSIONS} FIX sessions ({events:,} events)",
            fix_rate,
            "reports/s",
            ws_rate,
            f"private WS fan-out to {SESSIONS}, same events",
            ">= 0.5 of WS",
        )
    )
    rows.append(
        _row(
            "fix: the same orders with no subscriber (events committed/s)",
            alone / SESSIONS,
            "events/s",
            None,
            None,
            None,
        )
    )
    rows.append(
        _row(
            "fix: ResendRequest of 10,000 reports rebuilt from SQL",
            resend_rate,
            "messages/s",
            None,
            None,
            None,
        )
    )
    return rows


class _LineServer(Server):
    """`Server` with the FIX listener on a port picked here (free when picked)."""

    fix_port = 0

    def start(self) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.fix_port = int(probe.getsockname()[1])
        before = os.environ.get("REFSERVER_FIX_PORT")
        os.environ["REFSERVER_FIX_PORT"] = str(self.fix_port)
        try:
            super().start()
        finally:
            if before is None:
                del os.environ["REFSERVER_FIX_PORT"]
            else:
                os.environ["REFSERVER_FIX_PORT"] = before
