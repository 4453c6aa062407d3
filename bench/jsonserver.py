"""json-server 0.17.4 (npm) as an outside reference: installed at bench time into a directory
outside the repository, started on a db.json of one record.

    npx_dir() -> Path | None          # None (and a note on stderr) when npm is unreachable
    async with json_server(db) as port: ...
    await start_seconds(exe, db)      # exec → the first connection it accepts
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

VERSION = "0.17.4"
HOME = Path(tempfile.gettempdir()) / f"refserver-bench-json-server-{VERSION}"
RECORD_ID = "1"


def binary() -> Path | None:
    """The json-server executable, installed with npm on first use; None when npm fails."""
    exe = HOME / "node_modules" / ".bin" / "json-server"
    if exe.exists():
        return exe
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("# json-server: npm/node not found, figure skipped", file=sys.stderr)
        return None
    HOME.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", f"json-server@{VERSION}"],
            cwd=HOME,
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"# json-server: npm install failed ({exc!r}), figure skipped", file=sys.stderr)
        return None
    return exe if exe.exists() else None


def write_db(directory: str) -> Path:
    """db.json with one order, shaped like a Musubi order."""
    path = Path(directory) / "db.json"
    record = {
        "id": RECORD_ID,
        "status": "PROPOSED",
        "source_currency": "JPYSC0",
        "target_currency": "USDCx",
        "target_amount": "100000",
        "source_amount_max": "16000000",
        "jurisdiction_sender": "JP",
        "jurisdiction_receiver": "KR",
    }
    path.write_bytes(orjson.dumps({"orders": [record]}))
    return path


def _cmd(exe: Path, db: Path, port: int) -> list[str]:
    cmd = [str(exe), str(db), "--port", str(port), "--host", "127.0.0.1", "--quiet"]
    if len(os.sched_getaffinity(0)) > 1:
        cmd = ["taskset", "-c", "0", *cmd]  # the same core refserver is given
    return cmd


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _start(exe: Path, db: Path) -> tuple[asyncio.subprocess.Process, int, float]:
    port = _free_port()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *_cmd(exe, db, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(db.parent)
    )
    # --quiet: no banner and no request log (refserver runs without an access log too); it
    # has started when its socket accepts a connection
    async with asyncio.timeout(60):
        while True:
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if proc.returncode is not None:
                    raise RuntimeError("json-server did not start") from None
                await asyncio.sleep(0.005)
                continue
            took = time.perf_counter() - t0
            w.close()
            break
    return proc, port, took


async def _stop(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(10):
            await proc.wait()
    if proc.returncode is None:
        proc.kill()


@contextlib.asynccontextmanager
async def json_server(exe: Path, db: Path) -> AsyncIterator[int]:
    proc, port, _ = await _start(exe, db)
    try:
        yield port
    finally:
        await _stop(proc)


async def start_seconds(exe: Path, db: Path) -> float:
    proc, _, took = await _start(exe, db)
    await _stop(proc)
    return took
