"""Musubi SSE transport: the hand-written `EventStream` against sse-starlette, same engine.

One server subprocess (pinned to core 0, uvloop + httptools) holds a streams engine on SQLite
and two routes over the same subscriptions:
  GET /hand/{stream}  app/routers/musubi/sse.py `EventStream` (every wake-up in one write)
  GET /lib/{stream}   sse-starlette `EventSourceResponse` fed the same stored, coalesced bytes
                      (`frames(batch)` per wake-up: nothing re-serialised)
  POST /go/{rounds}   hands `rounds` × 10 events per stream to the hub, one commit's worth per
                      round (no SQL: the write path is measured in bench_streams, not here)
200 raw clients (this process, core 1), one stream each, count `event: order_updated` frames.
Deliveries/s are medians of alternating runs, so both transports meet the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 200
PER_ROUND = 10

SERVER = r"""
import asyncio, sys
import orjson, uvicorn
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from app.clock import DomainClock
from app.db import Database
from app.engine.streams import Event, StreamEnded, Streams
from app.routers.musubi.sse import EventStream, frames

url, port, clients, per_round = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
body = orjson.loads(open(sys.argv[5], "rb").read())
db = Database(url)
clock = DomainClock(frozen=True)
streams = Streams(db, clock, queue_max=1_000_000)


async def hand(request):
    sub = await streams.subscribe("musubi", request.path_params["s"], catch_up=False)
    return EventStream(sub, None, 30_000, clock.now_ms)


async def lib(request):
    sub = await streams.subscribe("musubi", request.path_params["s"], catch_up=False)

    async def gen():
        try:
            while True:
                yield frames(await sub.next_batch(), None)
        except StreamEnded:
            return
        finally:
            sub.close()

    return EventSourceResponse(gen(), ping=30, headers={"x-resume-source": sub.source})


async def go(request):
    # the transport alone: committed events handed to the hub as the sequencer does after COMMIT
    rounds = int(request.path_params["n"])
    data = orjson.dumps(body)
    seq = {k: streams.hub.states[("musubi", f"s{k}")].head for k in range(clients)}
    for _ in range(rounds):
        batch = []
        for k in range(clients):
            first = seq[k] + 1
            seq[k] += per_round
            batch.extend(
                Event("musubi", f"s{k}", first + i, 0, "order_updated", None, data) for i in range(per_round)
            )
        streams.hub.publish(batch)
        await asyncio.sleep(0)  # the senders run between commits, as they do between writer batches
    return Response(b"{}", media_type="application/json")


import contextlib


@contextlib.asynccontextmanager
async def lifespan(app):
    streams.start()
    yield


app = Starlette(
    routes=[Route("/hand/{s}", hand), Route("/lib/{s}", lib), Route("/go/{n}", go, methods=["POST"])],
    lifespan=lifespan,
)
uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", loop="uvloop",
                              http="httptools", access_log=False)).run()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the server process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run_once(port: int, pid: int, mode: str, rounds: int) -> tuple[float, float]:
    from bench.bench_musubi import Conn, SseCounter

    clients = [SseCounter() for _ in range(CLIENTS)]
    for k, cl in enumerate(clients):
        cl.task = asyncio.create_task(cl.run(port, f"/{mode}/s{k}", {}))
    await asyncio.gather(*(cl.ready.wait() for cl in clients))
    expected = CLIENTS * rounds * PER_ROUND
    conn = await Conn.open(port)
    cpu0 = _cpu_s(pid)
    t0 = time.perf_counter()
    st, _ = await conn.request("POST", f"/go/{rounds}")
    assert st == 200
    async with asyncio.timeout(120):
        while sum(c.count for c in clients) < expected:  # noqa: ASYNC110 (200 counters, one check)
            await asyncio.sleep(0.002)
    rate = expected / (time.perf_counter() - t0)
    cpu_us = (_cpu_s(pid) - cpu0) * 1e6 / expected
    conn.close()
    for cl in clients:
        assert cl.task is not None
        cl.task.cancel()
    await asyncio.gather(*(cl.task for cl in clients if cl.task), return_exceptions=True)
    return rate, cpu_us


async def measure(quick: bool) -> dict[str, list[float]]:
    from bench.bench_musubi import _pin
    from bench.bench_streams import BODY, fresh_db

    _pin({1})
    rounds = 100 if quick else 250
    reps = 3 if quick else 5
    out: dict[str, list[float]] = {"hand": [], "lib": [], "hand_cpu": [], "lib_cpu": []}
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_db(tmp, "sse")
        (Path(tmp) / "server.py").write_text(SERVER)
        import orjson

        (Path(tmp) / "body.json").write_bytes(orjson.dumps(BODY))
        port = _free_port()
        cmd = [sys.executable, str(Path(tmp) / "server.py"), url, str(port), str(CLIENTS), str(PER_ROUND)]
        cmd.append(str(Path(tmp) / "body.json"))
        if len(os.sched_getaffinity(0)) > 1:
            cmd = ["taskset", "-c", "0", *cmd]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(*cmd, env=env, stdout=subprocess.DEVNULL)
        try:
            async with asyncio.timeout(30):
                while True:
                    try:
                        _r, w = await asyncio.open_connection("127.0.0.1", port)
                        w.close()
                        break
                    except OSError:
                        await asyncio.sleep(0.05)
            for _ in range(reps):
                for mode in ("hand", "lib"):
                    rate, cpu_us = await _run_once(port, proc.pid, mode, rounds)
                    out[mode].append(rate)
                    out[f"{mode}_cpu"].append(cpu_us)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await proc.wait()
    return out


async def run(quick: bool) -> list[dict[str, Any]]:
    got = await measure(quick)
    med = {k: statistics.median(v) for k, v in got.items()}
    return [
        {
            "name": "SSE fan-out, sse-starlette fed stored coalesced bytes (200 streams × 1 client)",
            "value": med["lib"],
            "unit": "events/s",
            "ceiling": med["hand"],
            "ceiling_name": "hand-written EventStream, same engine and events",
            "goal": ">= 0.9 of hand-written to switch",
            "runs": got["lib"],
        },
        {
            "name": "SSE server CPU per delivery, hand-written EventStream",
            "value": med["hand_cpu"],
            "unit": "µs",
            "ceiling": None,
            "ceiling_name": None,
            "goal": None,
            "runs": got["hand_cpu"],
        },
        {
            "name": "SSE server CPU per delivery, sse-starlette (stored coalesced bytes)",
            "value": med["lib_cpu"],
            "unit": "µs",
            "ceiling": None,
            "ceiling_name": None,
            "goal": "<= 1.1 × hand-written to switch",
            "runs": got["lib_cpu"],
        },
    ]


if __name__ == "__main__":
    from bench.run import print_table

    rows = asyncio.run(run("--quick" in sys.argv))
    print_table(rows)
    for r in rows:
        print(r["name"], [round(x, 2) for x in r["runs"]], file=sys.stderr)
