"""The `refserver` command as a user runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN_HEADERS, wait_for

pytestmark = pytest.mark.anyio

LINE = re.compile(r"^refserver listening http=(\d+) broker_ws=(\d+)(?: fix=\d+)?$")


def start(url: str, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int, int]:
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
        url,
        "--admin-token",
        "test-admin",
        "--seed",
        "none",
        *extra,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    m = LINE.match(line)
    assert m, f"unexpected first line {line!r}"
    return proc, int(m.group(1)), int(m.group(2))


def seqs(url: str, stream: str) -> list[int]:
    from app.db import normalise_url

    eng = sa.create_engine(normalise_url(url))
    with eng.connect() as c:
        rows = c.execute(
            sa.text("SELECT seq FROM stream_events WHERE stream=:s ORDER BY seq"), {"s": stream}
        ).all()
    eng.dispose()
    return [int(r[0]) for r in rows]


async def test_serve_prints_listening_line_and_stops_on_sigterm(sqlite_url: str) -> None:
    """Port 0 → one listening line on stdout once both ports accept; SIGTERM exits 0."""
    proc, http_port, ws_port = start(sqlite_url, env={"REFSERVER_RING_MAX_EVENTS": "7"})
    try:
        async with httpx.AsyncClient() as c:
            assert (await c.get(f"http://127.0.0.1:{http_port}/health")).json() == {"status": "ok"}
            r = await c.get(f"http://127.0.0.1:{ws_port}/")
            assert r.status_code == 404
            # the environment variable reached the settings: the ring holds at most 7
            await c.post(
                f"http://127.0.0.1:{http_port}/_admin/streams/musubi/x/events",
                json={"count": 9},
                headers=ADMIN_HEADERS,
            )
            info = (
                await c.get(f"http://127.0.0.1:{http_port}/_admin/streams/musubi/x", headers=ADMIN_HEADERS)
            ).json()
            assert info["ring"]["size"] == 7
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


async def test_sigterm_commits_or_refuses_in_flight_appends(db_url: str) -> None:
    """Appends racing a SIGTERM are either acknowledged and stored, or refused: never half-done."""
    proc, port, _ = start(db_url)
    acked: list[int] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=ADMIN_HEADERS) as c:

            async def writer() -> None:
                for _ in range(200):
                    try:
                        r = await c.post("/_admin/streams/order-entry/acct/events", json={"count": 5})
                    except httpx.TransportError:
                        return
                    if r.status_code != 201:
                        return
                    acked.extend(r.json()["seqs"])

            tasks = [asyncio.create_task(writer()) for _ in range(8)]
            await wait_for(lambda: len(acked) >= 200, 30)
            proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
    finally:
        assert proc.wait(30) == 0
    stored = seqs(db_url, "acct")
    assert stored == list(range(1, len(stored) + 1))
    assert set(acked) <= set(stored)
    assert len(stored) % 5 == 0  # batches of 5 are never split


async def test_sigkill_then_restart_continues_contiguously(sqlite_url: str) -> None:
    """After SIGKILL mid-stream: contiguous, next append is last+1, a resume gets exactly the rest."""
    proc, port, _ = start(sqlite_url)
    acked: list[int] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=ADMIN_HEADERS) as c:

        async def writer() -> None:
            while True:
                try:
                    r = await c.post("/_admin/streams/broker/1001/events", json={"count": 3})
                except httpx.TransportError:
                    return
                acked.extend(r.json()["seqs"])

        tasks = [asyncio.create_task(writer()) for _ in range(8)]
        await wait_for(lambda: len(acked) >= 300, 30)
        last_seen = max(acked)
        proc.kill()
        await asyncio.gather(*tasks)
    proc.wait(10)
    stored = seqs(sqlite_url, "1001")
    assert stored == list(range(1, len(stored) + 1))
    assert set(acked) <= set(stored)

    proc, port, _ = start(sqlite_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=ADMIN_HEADERS) as c:
            nxt = (await c.post("/_admin/streams/broker/1001/events", json={"count": 1})).json()["seqs"]
            assert nxt == [len(stored) + 1]
            rest = (
                await c.get(f"/_admin/streams/broker/1001/events?from_seq={last_seen + 1}&limit=10000")
            ).json()
            assert [e["seq"] for e in rest["events"]] == list(range(last_seen + 1, len(stored) + 2))
            # what was committed before the crash comes from SQL; only the new event is in the ring
            assert rest["source"] == ("mixed" if last_seen < len(stored) else "ring")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_banner_on_stderr_lists_the_demo_credentials(tmp_path: Path) -> None:
    """With --seed demo the start-up banner (stderr) carries the dashboard URL and demo identities."""
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
        f"sqlite:///{tmp_path}/b.db",
        "--admin-token",
        "tok",
        "--seed",
        "demo",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert LINE.match(proc.stdout.readline().strip())
        banner = []
        for line in proc.stderr:
            banner.append(line)
            if sum(x.startswith("=====") for x in banner) == 2:  # the banner's closing rule
                break
        text = "".join(banner)
        assert "#admin=tok" in text and "sender-institution-secret" in text
        assert "demo-1001" in text and "spk_demo_trader_a" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parent.parent,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--seed", "foo"], {}, "--seed"),
        (["--clock", "sometimes"], {}, "--clock"),
        (["--port", "eighty"], {}, "--port"),
        (["--broker-ws-port", "70000"], {}, "--broker-ws-port"),
        ([], {"REFSERVER_SEED": "foo"}, "REFSERVER_SEED"),
        ([], {"REFSERVER_PORT": "x"}, "REFSERVER_PORT"),
    ],
)
def test_bad_serve_values_end_with_one_line_not_a_traceback(
    sqlite_url: str, args: list[str], env: dict[str, str], says: str
) -> None:
    """A bad flag or REFSERVER_* value: exit 2 and one line on stderr naming it (no pydantic
    traceback, no usage block)."""
    done = _cli("serve", "--database-url", sqlite_url, *args, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_occupied_port_ends_with_one_line(sqlite_url: str) -> None:
    """A port already taken: exit 1 and one line naming host:port (not 40 lines of asyncio)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flags in (["--port", str(port)], ["--port", "0", "--broker-ws-port", str(port)]):
            done = _cli("serve", "--database-url", sqlite_url, "--seed", "none", *flags)
            assert done.returncode == 1
            lines = done.stderr.strip().splitlines()
            assert lines == [f"refserver: cannot listen on 127.0.0.1:{port}: Address already in use"], (
                done.stderr
            )


def test_token_formats_work_inside_command_substitution(sqlite_url: str) -> None:
    """`refserver token order-entry --format curl` survives `eval "curl $(…)"` as -H/value
    pairs; `header` is one `Name: value` a line (curl -H @file); `json` is an object; a bare
    token stays as it was by default and is refused one-line where no header is known."""
    import json

    url = ["--database-url", sqlite_url]
    header = _cli("token", "order-entry", "--format", "header", *url)
    assert header.returncode == 0, header.stderr
    lines = header.stdout.strip().splitlines()
    headers = dict(line.split(": ", 1) for line in lines)
    assert {"SC-Key", "SC-Signature", "SC-Passphrase", "SC-Timestamp"} <= set(headers)
    curl = _cli("token", "order-entry", "--format", "curl", *url)
    words = subprocess.run(
        ["bash", "-c", 'eval "set -- $1"; printf "%s\\n" "$@"', "-", curl.stdout.strip()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert words[0::2] == ["-H"] * len(headers)
    assert all(": " in w for w in words[1::2]) and list(dict(w.split(": ", 1) for w in words[1::2])) == list(
        headers
    )
    as_json = json.loads(_cli("token", "order-entry", "--format", "json", *url).stdout)
    assert set(as_json["headers"]) == set(headers)
    bare = _cli("token", "musubi", "sender-institution", *url)
    assert bare.returncode == 0 and bare.stdout.count(".") == 2  # a JWT, as before
    assert json.loads(_cli("token", "musubi", "sender-institution", "--format", "json", *url).stdout)["token"]
    refused = _cli("token", "musubi", "sender-institution", "--format", "header", *url)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
