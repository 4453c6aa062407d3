"""A real `refserver serve --seed demo` process for the contract tests (examples and fuzzing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.contract.client import ADMIN_TOKEN


def start_demo_server(tmp: Path, clock: str = "frozen") -> tuple[subprocess.Popen[str], str, int]:
    """Start a demo server on free ports; return it, its base URL and its broker WebSocket port."""
    env = {**os.environ, "REFSERVER_LOG_LEVEL": "warning"}
    cmd = [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "serve",
        "--port", "0",
        "--broker-ws-port", "0",
        "--fix-port", "0",
        "--seed", "demo",
        "--clock", clock,
        "--admin-token", ADMIN_TOKEN,
        "--database-url", f"sqlite:///{tmp / 'contract.db'}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.match(r"refserver listening http=(\d+) broker_ws=(\d+)", line)
        if m:
            # drain the rest (the banner) so the server never blocks on a full pipe
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, f"http://127.0.0.1:{m.group(1)}", int(m.group(2))
    proc.kill()
    raise RuntimeError("the demo server did not start")


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base, _ = start_demo_server(tmp_path_factory.mktemp("contract"))
    try:
        httpx.get(base + "/health", timeout=10).raise_for_status()
        yield base
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
