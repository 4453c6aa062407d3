"""The pytest plugin an installed refserver brings (entry point `pytest11`; CONTRACT §7.3).

The session fixture `refserver` starts `refserver serve` as a subprocess on free ports with a
fresh SQLite database in a temporary folder, a frozen clock and `--seed demo`, and stops it at
the end of the session whatever happens. It gives the URLs, the FIX port (when the listener is
on), the admin token, an admin client (clock, faults, chaos, coverage, reset, streams) and the
demo credentials. Options: `--refserver-database-url URL` (e.g. PostgreSQL; the server is reset
to a fresh demo state on start), `--refserver-seed demo|none`, `--refserver-chaos FILE`.

Only the standard library and pytest are imported here: the plugin loads in every pytest
session of an environment where refserver is installed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import queue
import re
import secrets
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LISTENING = re.compile(r"refserver listening http=(\d+) broker_ws=(\d+)(?: fix=(\d+))?")
START_TIMEOUT_S = 60.0


class AdminError(Exception):
    """A control-API call answered an error status."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class AdminClient:
    """The control API (`/_admin`, CONTRACT §5 and §7) over plain HTTP, with the admin token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            raise AdminError(err.code, json.loads(raw) if raw else None) from None
        return json.loads(raw) if raw else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, {} if body is None else body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # the domain clock
    def clock(self) -> dict[str, Any]:
        return dict(self.get("/_admin/clock"))

    def advance(self, ms: int) -> dict[str, Any]:
        return dict(self.post("/_admin/clock", {"action": "advance", "ms": ms}))

    def freeze(self) -> dict[str, Any]:
        return dict(self.post("/_admin/clock", {"action": "freeze"}))

    def resume(self) -> dict[str, Any]:
        return dict(self.post("/_admin/clock", {"action": "resume"}))

    # faults, chaos
    def add_fault(
        self, match: dict[str, Any], action: dict[str, Any], times: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"match": match, "action": action}
        if times is not None:
            body["times"] = times
        return dict(self.post("/_admin/faults", body))

    def clear_faults(self) -> None:
        self.delete("/_admin/faults")

    def chaos(self, config: dict[str, Any]) -> dict[str, Any]:
        return dict(self.post("/_admin/chaos", config))

    def chaos_state(self) -> dict[str, Any]:
        return dict(self.get("/_admin/chaos"))

    def chaos_off(self) -> None:
        self.delete("/_admin/chaos")

    # coverage, journal, reset, streams
    def coverage(self, family: str | None = None, caller: str | None = None) -> dict[str, Any]:
        return dict(self.get("/_admin/coverage", family=family, caller=caller))

    def journal(self, limit: int = 100, family: str | None = None) -> list[dict[str, Any]]:
        return list(self.get("/_admin/journal", limit=limit, family=family)["entries"])

    def reset(self, seed: str = "demo") -> dict[str, Any]:
        return dict(self.post("/_admin/reset", {"seed": seed}))

    def disconnect(self, family: str, stream: str) -> dict[str, Any]:
        return dict(self.post(f"/_admin/streams/{family}/{urllib.parse.quote(stream, safe='')}/disconnect"))

    def skip(self, family: str, stream: str, count: int) -> dict[str, Any]:
        return dict(
            self.post(
                f"/_admin/streams/{family}/{urllib.parse.quote(stream, safe='')}/skip", {"count": count}
            )
        )


@dataclass
class RefServer:
    """A running refserver: where it listens and how to drive it."""

    url: str  # REST, SSE, Order Entry WebSocket (ws_url), control API, dashboard
    ws_url: str
    broker_ws_url: str  # the broker WebSocket's own port
    fix_port: int | None  # the FIX drop-copy listener, when on
    admin_token: str
    admin: AdminClient
    credentials: dict[str, Any]  # the demo identities by family key: musubi, broker, order_entry
    database_url: str
    log_path: Path  # the server's stderr (banner, errors)
    process: subprocess.Popen[str] = field(repr=False)
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "app.cli"])  # the refserver CLI


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("refserver", "refserver fixture")
    group.addoption(
        "--refserver-database-url",
        default=None,
        help="database of the `refserver` fixture's server (default: fresh SQLite in a temporary folder)",
    )
    group.addoption("--refserver-seed", default="demo", choices=("demo", "none"), help="seed of the server")
    group.addoption(
        "--refserver-chaos", default=None, help="start the server with this chaos file (serve --chaos)"
    )


def _read_lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_server(
    workdir: Path, database_url: str | None = None, seed: str = "demo", chaos: str | None = None
) -> RefServer:
    """Start `refserver serve` on free ports; the caller stops it (`stop_server`)."""
    token = "adm_" + secrets.token_hex(12)
    db_url = database_url or f"sqlite:///{workdir / 'refserver.db'}"
    args = [
        sys.executable, "-m", "app.cli", "serve",
        "--host", "127.0.0.1", "--port", "0", "--broker-ws-port", "0", "--fix-port", "0",
        "--database-url", db_url, "--admin-token", token, "--seed", seed, "--clock", "frozen",
    ]  # fmt: skip
    if chaos:
        args += ["--chaos", chaos]
    log_path = workdir / "refserver.log"
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=log, text=True, cwd=workdir, start_new_session=True
    )
    log.close()
    atexit.register(_stop, proc)  # even when the session is torn down abnormally
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    match = None
    try:
        while match is None:
            line = lines.get(timeout=START_TIMEOUT_S)
            if line is None:
                raise RuntimeError(f"refserver exited with {proc.wait()}: {_tail(log_path)}")
            match = LISTENING.search(line)
    except queue.Empty:
        _stop(proc)
        raise RuntimeError(
            f"refserver printed no listening line in {START_TIMEOUT_S:.0f} s: {_tail(log_path)}"
        ) from None
    except BaseException:
        _stop(proc)
        raise
    http, broker, fix = match.group(1), match.group(2), match.group(3)
    url = f"http://127.0.0.1:{http}"
    admin = AdminClient(url, token)
    try:
        if database_url:  # a database given from outside: start from a fresh state
            admin.reset(seed)
        credentials = dict(admin.get("/_admin/dashboard"))
    except BaseException:
        _stop(proc)
        raise
    return RefServer(
        url=url,
        ws_url=f"ws://127.0.0.1:{http}",
        broker_ws_url=f"ws://127.0.0.1:{broker}/",
        fix_port=int(fix) if fix else None,
        admin_token=token,
        admin=admin,
        credentials=credentials,
        database_url=db_url,
        log_path=log_path,
        process=proc,
    )


def stop_server(server: RefServer) -> None:
    _stop(server.process)
    with contextlib.suppress(Exception):
        atexit.unregister(_stop)


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    return ""


@pytest.fixture(scope="session")
def refserver(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RefServer]:
    """A refserver for the whole session (see the module docstring)."""
    opt = request.config.getoption
    server = start_server(
        tmp_path_factory.mktemp("refserver"),
        database_url=opt("--refserver-database-url"),
        seed=opt("--refserver-seed"),
        chaos=opt("--refserver-chaos"),
    )
    try:
        yield server
    finally:
        stop_server(server)
