"""Request-path cost of the edge's per-request work (journal, coverage): sequential keep-alive
requests against a live `refserver serve`, on `/health` and an authenticated Musubi GET.

    python -m bench.recording_overhead [--requests 2000] [--rounds 5]

Prints the median requests per second of each route over the rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import httpx


def start(tmp: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        "0",
        "--broker-ws-port",
        "0",
        "--database-url",
        f"sqlite:///{tmp}/bench.db",
        "--admin-token",
        "bench",
        "--seed",
        "demo",
        "--clock",
        "frozen",
    ]
    env = dict(os.environ, REFSERVER_MUSUBI_AUTO_QUOTE="off", REFSERVER_OE_LIQUIDITY="off")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"http=(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"no listening line: {line!r}")
    return proc, f"http://127.0.0.1:{m.group(1)}"


def rate(client: httpx.Client, path: str, n: int, headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code, r.text)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start(tmp)
        try:
            with httpx.Client(base_url=base) as c:
                creds = c.get("/_admin/dashboard", headers={"Authorization": "Bearer bench"}).json()["musubi"]
                tok = c.post(
                    "/auth/token",
                    json={"client_id": creds["client_id"], "client_secret": creds["client_secret"]},
                ).json()
                token = tok["data"]["token"]
                auth = {"Authorization": f"Bearer {token}"}
                rate(c, "/health", 300, {})
                rate(c, "/whoami", 300, auth)
                health, whoami = [], []
                for _ in range(args.rounds):
                    health.append(rate(c, "/health", args.requests, {}))
                    whoami.append(rate(c, "/whoami", args.requests, auth))
            print(f"/health  {statistics.median(health):8.0f} req/s  (rounds {[round(x) for x in health]})")
            print(f"/whoami  {statistics.median(whoami):8.0f} req/s  (rounds {[round(x) for x in whoami]})")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
