"""`refserver serve --fix-port`: the listening line names the FIX port, `off` leaves it out,
and the port speaks FIX (a Logon without credentials is refused with Logout MISSING_AUTH)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.order_entry.test_fix_client import FixClient, encode, sending_time

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def serve(url: str, fix_port: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", "0", "--broker-ws-port", "0"]
    cmd += ["--database-url", url, "--admin-token", "t", "--seed", "none", "--fix-port", fix_port]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ)
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(20)


async def test_listening_line_names_the_fix_port_and_it_speaks_fix(sqlite_url: str) -> None:
    """`--fix-port 0`: the line ends with ` fix=<port>`; that port answers a Logon."""
    proc, line = serve(sqlite_url, "0")
    try:
        m = re.fullmatch(r"refserver listening http=\d+ broker_ws=\d+ fix=(\d+)", line)
        assert m, line
        c = await FixClient().connect(int(m.group(1)))
        c.send_raw(
            encode(
                [(35, "A"), (34, 1), (49, "C"), (56, "REFSERVER"), (52, sending_time()), (98, 0), (108, 30)]
            )
        )
        got = await c.closed()
        assert [(x.type, x[58]) for x in got] == [("5", "MISSING_AUTH")]
    finally:
        assert stop(proc) == 0


async def test_fix_port_off_leaves_it_out(sqlite_url: str) -> None:
    """`--fix-port off`: no listener, the line has no ` fix=`."""
    proc, line = serve(sqlite_url, "off")
    try:
        assert re.fullmatch(r"refserver listening http=\d+ broker_ws=\d+", line), line
    finally:
        assert stop(proc) == 0


async def test_an_occupied_fix_port_is_one_clear_line_and_a_non_zero_exit(sqlite_url: str) -> None:
    """A FIX port already in use: one line on stderr naming it, exit status non-zero."""
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        proc, line = serve(sqlite_url, str(port))
        assert proc.wait(20) != 0 and line == ""
        assert proc.stderr is not None
        err = proc.stderr.read().strip().splitlines()
        assert len(err) == 1 and "FIX" in err[0] and str(port) in err[0], err
    finally:
        blocker.close()
