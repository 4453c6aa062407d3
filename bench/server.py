"""Run refserver (plus bench-only routes) in a subprocess for HTTP benchmarks.

    with serve(settings_overrides) as port: ...   # uvicorn, uvloop + httptools, one worker

Bench-only routes mounted on the same app (so ratios compare like with like):
  POST /bench/noop/{stream}    reads the body, answers a prebuilt response
  POST /bench/append/{stream}  reads the body, appends it as one event, answers its seq
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def build_app(settings_json: str) -> Any:
    from fastapi import Request
    from starlette.responses import Response

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(**json.loads(settings_json)))
    ok = Response(b'{"ok":true}', media_type="application/json")

    @app.post("/bench/noop/{stream}", include_in_schema=False)
    async def noop(stream: str, request: Request) -> Response:
        await request.body()
        return ok

    @app.post("/bench/append/{stream}", include_in_schema=False)
    async def append(stream: str, request: Request) -> Response:
        body = await request.body()
        ev = await request.app.state.ctx.streams.append("musubi", stream, "bench", body)
        return Response(b'{"seq":%d}' % ev.seq, media_type="application/json")

    return app


@contextlib.contextmanager
def serve(**overrides: Any) -> Iterator[int]:
    settings = {"port": 0, "broker_ws_port": 0, "seed": "none", "admin_token": "bench", "log_level": "error"}
    settings.update(overrides)
    code = (
        "import sys, socket, uvicorn, json\n"
        "from bench.server import build_app\n"
        "app = build_app(sys.argv[1])\n"
        "sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "sock.bind(('127.0.0.1', 0)); print(sock.getsockname()[1], flush=True)\n"
        "uvicorn.Server(uvicorn.Config(app, log_level='error', access_log=False, loop='uvloop', http='httptools')).run(sockets=[sock])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(settings)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    try:
        import httpx

        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                import time

                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def load(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: str = "",
    connections: int = 50,
    seconds: float = 4.0,
    headers: list[str] | None = None,
) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "bench.load",
        "--port",
        str(port),
        "--path",
        path,
        "--method",
        method,
        "--body",
        body,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
    ]
    for h in headers or []:
        cmd += ["--header", h]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return dict(json.loads(out))
