"""The benchmarks (`make bench`, `python -m bench.run`). Every module here is importable on its own
(`bench.profile` imports the benchmark paths), so the shared settings live in this package."""

import os
import sys

# servers started by any bench module pick a free FIX port instead of the default 9878, which
# another server on the machine may hold
os.environ.setdefault("REFSERVER_FIX_PORT", "0")

ADMIN = "bench-admin"


def serve_cmd(database_url: str, *extra: str) -> list[str]:
    """`refserver serve` as the benches launch it: both listeners on free ports, the benches'
    admin token, `extra` flags after."""
    return [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        "0",
        "--broker-ws-port",
        "0",
        "--database-url",
        database_url,
        "--admin-token",
        ADMIN,
        *extra,
    ]
