"""Soak: mixed load on all three families against a real server, then idle; RSS and the top
allocations that survived.

    python -m bench.soak --minutes 5 [--idle-minutes 2] [--rate 60]

Starts `refserver` (demo seed, real clock: every simulator runs) in a subprocess on a fresh
SQLite file, with tracemalloc switched on when the load starts (so its snapshot holds exactly
what the load left behind). The load (this process): Musubi orders created and accepted (each
RFQ fans out to the demo market makers, who quote) with one SSE reader; broker trades opened
and closed; Order Entry batches of resting and IOC orders with a cancel-all now and then.
Prints RSS at start, every 30 s, at the end of the load and after the idle period, then the
top allocations by line (tracemalloc's own memory is reported, it is in the RSS figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "soak-admin"
ADMIN_H = {"authorization": f"Bearer {ADMIN}"}

SERVER = (
    r"""
import json, socket, sys, tracemalloc
import uvicorn
from starlette.responses import Response
from app.config import Settings
from app.main import create_app

app = create_app(Settings(**json.loads(sys.argv[1])))


@app.post("/bench/trace/start", include_in_schema=False)
async def trace_start() -> Response:
    tracemalloc.start(8)
    return Response(b"{}", media_type="application/json")


@app.get("/bench/trace/top", include_in_schema=False)
async def trace_top() -> Response:
    import gc
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
    )
    lines = [f"traced now {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB, "
             f"tracemalloc's own {tracemalloc.get_tracemalloc_memory() / 2**20:.1f} MiB"]
    for st in snap.statistics("lineno")[:15]:
        fr = st.traceback[0]
        lines.append(f"{st.size / 2**20:8.2f} MiB {st.count:9d} blocks  {fr.filename.split('site-packages/')[-1].replace('"""
    + str(ROOT)
    + r"""/', '')}:{fr.lineno}")
    lines.append("-- by 4-frame traceback, top 5 --")
    for st in snap.statistics("traceback")[:5]:
        lines.append(f"{st.size / 2**20:8.2f} MiB {st.count:9d} blocks")
        for fr in list(st.traceback)[-4:]:
            lines.append(f"        {fr.filename.split('site-packages/')[-1].replace('"""
    + str(ROOT)
    + r"""/', '')}:{fr.lineno}")
    return Response("\n".join(lines).encode(), media_type="text/plain")


sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False, loop="uvloop", http="httptools")).run(sockets=[sock])
"""
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Http:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes = b"",
    ) -> tuple[int, bytes]:
        if self.w is None:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.r is not None
        data = orjson.dumps(body) if body is not None else raw
        head = [f"{method} {path} HTTP/1.1", "host: soak", f"content-length: {len(data)}"]
        if data:
            head.append("content-type: application/json")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.w.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        hd = await self.r.readuntil(b"\r\n\r\n")
        status = int(hd[9:12])
        low = hd.lower()
        i = low.find(b"content-length:")
        n = int(low[i + 15 : low.index(b"\r\n", i)]) if i >= 0 else 0
        return status, (await self.r.readexactly(n) if n else b"")


class Counts:
    def __init__(self) -> None:
        self.ok: dict[str, int] = {}
        self.bad: dict[str, int] = {}

    def add(self, family: str, status: int) -> None:
        bucket = self.ok if status < 400 else self.bad
        bucket[family] = bucket.get(family, 0) + 1


# --- the three families ----------------------------------------------------------------------------
async def musubi_setup(port: int) -> dict[str, dict[str, str]]:
    c = Http(port)
    out = {}
    for name, role in (
        ("SI", "institution"),
        ("RI", "institution"),
        ("SC", "custodian"),
        ("RC", "custodian"),
    ):
        st, body = await c.call(
            "POST", "/_admin/musubi/participants", {"name": f"soak-{name}", "role": role}, ADMIN_H
        )
        assert st == 201, body
        p = orjson.loads(body)
        st, body = await c.call(
            "POST", "/auth/token", {"client_id": p["client_id"], "client_secret": p["client_secret"]}
        )
        assert st == 200, body
        p["token"] = orjson.loads(body)["data"]["token"]
        out[name] = p
    return out


async def musubi_worker(
    port: int, who: dict[str, dict[str, str]], pace: float, until: float, n: Counts
) -> None:
    from bench.bench_musubi import order_body

    c = Http(port)
    si = {"authorization": f"Bearer {who['SI']['token']}"}
    sc = {"authorization": f"Bearer {who['SC']['token']}"}
    body = order_body(who["SI"], who["SC"], who["RI"], who["RC"])
    while time.monotonic() < until:
        st, out = await c.call("POST", "/api/v1/orders", body, si)
        n.add("musubi", st)
        if st == 201:
            iid = orjson.loads(out)["data"]["intent_id"]
            st, _ = await c.call("POST", f"/api/v1/orders/{iid}/accept", None, sc)
            n.add("musubi", st)
        st, _ = await c.call("GET", "/api/v1/orders?page=1&page_size=20", None, si)
        n.add("musubi", st)
        await asyncio.sleep(pace * 3)


async def musubi_reader(port: int, token: str) -> None:
    """One SSE reader that keeps up for the whole run."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(
        f"GET /api/v1/orders/events HTTP/1.1\r\nhost: soak\r\nauthorization: Bearer {token}\r\n\r\n".encode()
    )
    try:
        while await r.read(65536):
            pass
    finally:
        w.close()


async def broker_setup(port: int, users: int) -> list[str]:
    c = Http(port)
    tokens = []
    for _ in range(users):
        st, body = await c.call("POST", "/_admin/broker/users", {"password": "soak-pw"}, ADMIN_H)
        assert st in (200, 201), body
        login = orjson.loads(body)["login"]
        st, body = await c.call("POST", "/sign/in", {"login": login, "password": "soak-pw"})
        assert st == 200, body
        tokens.append(orjson.loads(body)["__token"])
    return tokens


async def broker_worker(port: int, token: str, pace: float, until: float, n: Counts) -> None:
    c = Http(port)
    h = {"authorization": token}
    rng = random.Random(token)
    while time.monotonic() < until:
        sym = rng.choice(("EURUSD", "GBPUSD", "USDJPY"))
        st, out = await c.call(
            "POST", "/trade/open", {"cmd": rng.randint(0, 1), "volume": 1, "symbol": sym}, h
        )
        n.add("broker", st)
        if st == 200:
            st, _ = await c.call("DELETE", "/trade/close", {"order": orjson.loads(out)["id"]}, h)
            n.add("broker", st)
        await asyncio.sleep(pace * 2)


async def oe_setup(port: int, agents: int) -> list[dict[str, Any]]:
    c = Http(port)
    out = []
    for _ in range(agents):
        st, body = await c.call("POST", "/_admin/order-entry/agents", {}, ADMIN_H)
        assert st in (200, 201), body
        creds = orjson.loads(body)
        st, body = await c.call(
            "POST",
            f"/_admin/order-entry/accounts/{creds['account']}/fund",
            {"balances": {"USDC": 10**15, "BTC": 10**12}},
            ADMIN_H,
        )
        assert st in (200, 201), body
        out.append(creds)
    return out


async def oe_worker(port: int, creds: dict[str, Any], pace: float, until: float, n: Counts) -> None:
    from bench.bench_order_entry import Signer

    c = Http(port)
    signer = Signer(creds)
    rng = random.Random(creds["account"])
    path = "/api/v1/order-entry/orders"
    k = 0
    while time.monotonic() < until:
        k += 1
        if k % 10 == 0:
            signer.payload_nonce += 1
            action = {"SpotCancelAll": {}}
            payload = {"account": creds["account"], "nonce": signer.payload_nonce, "ts": 0, "action": action}
            body = orjson.dumps(
                {
                    "version": 1,
                    "actions": [
                        {"payload": payload, "signature": {"scheme": "EcdsaSecp256k1", "bytes": "0x00"}}
                    ],
                }
            )
        else:
            body = signer.batch(5, price=rng.randint(1, 50), tif=rng.choice(("gtc", "ioc")))
        st, _ = await c.call("POST", path, headers=signer.headers("POST", path, "", body), raw=body)
        n.add("order-entry", st)
        await asyncio.sleep(pace)


# --- the run ---------------------------------------------------------------------------------------
async def soak(minutes: float, idle_minutes: float, rate: float, trace: bool = True) -> None:
    tmp = tempfile.mkdtemp(prefix="soak-")
    settings = {
        "database_url": f"sqlite:///{tmp}/soak.db",
        "admin_token": ADMIN,
        "seed": "demo",
        "clock": "real",
        "port": 0,
        "broker_ws_port": 0,
        "log_level": "error",
        "broker_argon2_memory_kib": 1024,
        "broker_argon2_time_cost": 1,
    }
    cmd = [sys.executable, "-c", SERVER, json.dumps(settings)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    try:
        port = int((await asyncio.wait_for(proc.stdout.readline(), 60)).strip())
        async with asyncio.timeout(60):
            while True:
                with contextlib.suppress(OSError):
                    st, _ = await Http(port).call("GET", "/health")
                    if st == 200:
                        break
                await asyncio.sleep(0.1)
        pid = proc.pid
        print(f"server pid {pid} on :{port}, database {tmp}/soak.db", flush=True)
        musubi = await musubi_setup(port)
        brokers = await broker_setup(port, 4)
        agents = await oe_setup(port, 4)
        rss_start = rss_mib(pid)
        print(f"RSS at start: {rss_start:.1f} MiB", flush=True)
        if trace:
            await Http(port).call("POST", "/bench/trace/start")
        counts = Counts()
        until = time.monotonic() + minutes * 60
        # ~`rate` requests/s in all: 12 workers, each paced
        pace = 12 / rate
        workers = [musubi_worker(port, musubi, pace, until, counts) for _ in range(4)]
        workers += [broker_worker(port, t, pace, until, counts) for t in brokers]
        workers += [oe_worker(port, a, pace, until, counts) for a in agents]
        reader = asyncio.create_task(musubi_reader(port, musubi["SI"]["token"]))
        t0 = time.monotonic()

        async def sample() -> None:
            while True:
                await asyncio.sleep(30)
                done = sum(counts.ok.values()) + sum(counts.bad.values())
                print(
                    f"  t={time.monotonic() - t0:5.0f}s RSS {rss_mib(pid):7.1f} MiB  requests {done}"
                    f" ({done / (time.monotonic() - t0):.0f}/s)",
                    flush=True,
                )

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*workers)
        rss_load = rss_mib(pid)
        total = sum(counts.ok.values()) + sum(counts.bad.values())
        print(f"RSS at end of load: {rss_load:.1f} MiB after {total} requests in {minutes} min", flush=True)
        print(f"  answered <400: {counts.ok}  >=400: {counts.bad}", flush=True)
        reader.cancel()
        await asyncio.sleep(idle_minutes * 60)
        sampler.cancel()
        rss_idle = rss_mib(pid)
        print(f"RSS after {idle_minutes} min idle: {rss_idle:.1f} MiB", flush=True)
        if trace:
            st, top = await Http(port).call("GET", "/bench/trace/top")
            print("top allocations left by the load (tracemalloc, by line):")
            print(top.decode())
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="minutes of mixed load (default 5)")
    ap.add_argument("--idle-minutes", type=float, default=2.0, help="minutes idle after the load (default 2)")
    ap.add_argument("--rate", type=float, default=60.0, help="target requests/s across all families")
    ap.add_argument("--no-trace", action="store_true", help="no tracemalloc (RSS without its overhead)")
    args = ap.parse_args()
    asyncio.run(soak(args.minutes, args.idle_minutes, args.rate, trace=not args.no_trace))


if __name__ == "__main__":
    main()
