"""Request-path cost of the edge's per-request work (journal, coverage): sequential keep-alive
requests against a live `refserver serve`, on `/health` and an authenticated Musubi GET.

    python -m bench.recording_overhead [--requests 2000] [--rounds 5]

Prints the median requests per second of each route over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import httpx

from bench.server import serve


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
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(
            database_url=f"sqlite:///{tmp}/bench.db",
            seed="demo",
            clock="frozen",
            musubi_auto_quote="off",
            oe_liquidity="off",
        ) as port,
    ):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
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


if __name__ == "__main__":
    main()
