"""Start-up: exec → listening line on an existing database, refserver next to json-server 0.17.4.

The database is made (migrated and seeded) by one launch first, which also writes Python's
bytecode cache as a user's first launch does; then refserver and json-server
are launched in turn, launch by launch, each on the same core, and the median of each is kept.
refserver's line is its stdout `refserver listening …`; json-server's is its `Home` line,
printed once it listens. json-server comes from npm (bench/jsonserver.py); without npm the
comparison is skipped with a note and refserver's figure stands alone. A third launch per round
imports only the stack's frameworks (FastAPI, SQLAlchemy, uvicorn and their parts) and exits:
the floor under any server of this stack, printed on its own row.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import jsonserver, serve_cmd

ROOT = Path(__file__).resolve().parent.parent


# launched as on a user's machine: the first launch writes the bytecode cache and the measured
# launches read it (an environment with PYTHONDONTWRITEBYTECODE would compile every module anew)
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


async def refserver_start(db_url: str) -> float:
    cmd = serve_cmd(db_url)
    if len(os.sched_getaffinity(0)) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=USER_ENV
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(120):
            while True:
                line = await proc.stdout.readline()
                if not line:
                    raise RuntimeError("refserver did not start")
                if line.startswith(b"refserver listening"):
                    return time.perf_counter() - t0
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(20):
                await proc.wait()
        if proc.returncode is None:
            proc.kill()


# what any FastAPI + SQLAlchemy + uvicorn server of this stack imports before its own code runs
FRAMEWORK = "import fastapi, sqlalchemy, uvicorn, pydantic_settings, uvloop, httptools, websockets"


async def framework_floor() -> float:
    """exec → exit of a Python that imports only the stack's frameworks: the floor under any
    start-up of this stack, refserver's own code excluded."""
    cmd = [sys.executable, "-c", FRAMEWORK + "; import os; os._exit(0)"]  # no interpreter teardown
    if len(os.sched_getaffinity(0)) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(ROOT), stderr=subprocess.DEVNULL)
    if await proc.wait() != 0:
        raise RuntimeError("the framework imports failed")
    return time.perf_counter() - t0


async def run(quick: bool) -> list[dict[str, Any]]:
    launches = 3 if quick else 5
    exe = jsonserver.binary()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/startup.db"
        await refserver_start(url)  # makes the database: every measured launch finds it at head
        db = jsonserver.write_db(tmp)
        ours: list[float] = []
        theirs: list[float] = []
        floor: list[float] = []
        for _ in range(launches):
            ours.append(await refserver_start(url))
            floor.append(await framework_floor())
            if exe is not None:
                theirs.append(await jsonserver.start_seconds(exe, db))
    if exe is None:
        print("# start-up: json-server unreachable (npm), the comparison is skipped", file=sys.stderr)
    ceiling = {
        "unit": "s",
        "ceiling": statistics.median(theirs) if theirs else None,
        "ceiling_name": "json-server 0.17.4, exec → listening, launch by launch" if theirs else None,
    }
    return [
        {
            "name": f"start-up, exec → listening line, existing SQLite DB (median of {launches})",
            "value": statistics.median(ours),
            "goal": "<= 1.5 of ceiling",
            **ceiling,
        },
        {
            "name": f"start-up floor: the stack's imports alone, exec → exit (median of {launches})",
            "value": statistics.median(floor),
            "goal": "(the floor under the figure above)",
            **ceiling,
        },
    ]
