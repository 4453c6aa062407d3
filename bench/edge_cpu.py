"""CPU time per request through the whole app in-process (no sockets): `/health` and an
authenticated Musubi GET (`/whoami`), driven by direct ASGI calls. CPU time (process_time)
rather than wall time, so a loaded machine disturbs the comparison less.

    python -m bench.edge_cpu [--requests 5000] [--rounds 7] [--base-edge OLD/app/edge.py]
    python -m bench.edge_cpu --compare-recording     # client coverage recording on vs off

With `--base-edge`, another version of `app/edge.py` (e.g. from `git show REV:app/edge.py`) wraps
the same app in alternate rounds, so the two edges are compared in one process on one loaded
machine; the minimum over rounds is the least disturbed figure.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import tempfile
import time
from typing import Any

from app.config import Settings
from app.main import create_app


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"bench"), *headers], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent = False
    out: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            out["status"] = msg["status"]
        elif msg["type"] == "http.response.body":
            out["body"] += msg.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["body"]


async def main(n: int, rounds: int, base_edge: str | None, compare_recording: bool = False) -> None:
    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/b.db", admin_token="bench", seed="demo", clock="frozen",
                            musubi_auto_quote="off", oe_liquidity="off")  # fmt: skip
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            stack = app
            ctx = app.state.ctx
            creds = ctx.services["musubi"].dashboard()
            body = orjson.dumps({"client_id": creds["client_id"], "client_secret": creds["client_secret"]})
            _, answer = await call(
                stack, "POST", "/auth/token", [(b"content-type", b"application/json")], body
            )
            token = orjson.loads(answer)["data"]["token"]
            auth = [(b"authorization", f"Bearer {token}".encode())]
            await call(stack, "GET", "/health", [])  # builds the middleware stack
            edges = {"edge": app.middleware_stack}
            if base_edge:
                spec = importlib.util.spec_from_file_location("base_edge", base_edge)
                assert spec is not None and spec.loader is not None
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
                edges["base edge"] = mod.Edge(app.middleware_stack.app, app)
            recording = ctx.coverage.http
            if compare_recording:
                edges["edge, no recording"] = app.middleware_stack
            results: dict[tuple[str, str], list[float]] = {}
            for _ in range(rounds):
                for path, headers in (("/health", []), ("/whoami", auth)):
                    for name, edge in edges.items():
                        app.middleware_stack = edge
                        ctx.coverage.http = (
                            (lambda *a, **k: None) if name.endswith("no recording") else recording
                        )
                        t0 = time.process_time()
                        for _ in range(n):
                            status, _ = await call(stack, "GET", path, headers)
                            assert status == 200
                        results.setdefault((path, name), []).append((time.process_time() - t0) / n * 1e6)
            for (path, name), xs in results.items():
                print(f"{path:8} {name:10} {statistics.median(xs):7.1f} µs CPU/request (min {min(xs):.1f})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--base-edge", default=None)
    ap.add_argument("--compare-recording", action="store_true")
    a = ap.parse_args()
    asyncio.run(main(a.requests, a.rounds, a.base_edge, a.compare_recording))
