"""A small HTTP/1.1 keep-alive load generator (raw asyncio streams), run in its own process.

    python -m bench.load --port P --path /health --connections 50 --seconds 5 [--method POST --body '{}']
    → prints {"requests", "seconds", "rps", "p50_ms", "p99_ms", "errors"} as JSON

Python HTTP clients cost more per request than the server under test; this one writes
pre-built request bytes and parses only the status line and Content-Length, so the server is
the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def _conn(host: str, port: int, req: bytes, until: float, lat: list[float], errs: list[int]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while time.perf_counter() < until:
            t = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length:
                await reader.readexactly(length)
            lat.append(time.perf_counter() - t)
            if status >= 400:
                errs.append(status)
            n += 1
    finally:
        writer.close()
    return n


async def run(
    host: str, port: int, path: str, method: str, body: bytes, headers: list[str], conns: int, seconds: float
) -> dict[str, float]:
    extra = "".join(f"{h}\r\n" for h in headers)
    req = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    # warm-up
    await asyncio.gather(*(_conn(host, port, req, time.perf_counter() + 0.3, [], []) for _ in range(conns)))
    lat: list[float] = []
    errs: list[int] = []
    t0 = time.perf_counter()
    counts = await asyncio.gather(*(_conn(host, port, req, t0 + seconds, lat, errs) for _ in range(conns)))
    took = time.perf_counter() - t0
    lat.sort()
    total = sum(counts)
    return {
        "requests": total,
        "seconds": took,
        "rps": total / took,
        "p50_ms": lat[len(lat) // 2] * 1000 if lat else 0.0,
        "p99_ms": lat[int(len(lat) * 0.99)] * 1000 if lat else 0.0,
        "errors": len(errs),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/health")
    ap.add_argument("--method", default="GET")
    ap.add_argument("--body", default="")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    res = asyncio.run(
        run(a.host, a.port, a.path, a.method, a.body.encode(), a.header, a.connections, a.seconds)
    )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
