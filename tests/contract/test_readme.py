"""The README runs as written: every `sh` and `python` block of README.md and examples/README.md is
executed, in order, against a live `--seed demo` server (real clock, so the quickstarts' waits
hold), with only the ports rewritten to the test server's. A block that cannot run inside the
suite says why in a `<!-- not run by the README test: … -->` line right above it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contract.client import ADMIN_TOKEN
from tests.contract.conftest import start_demo_server, stop

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "examples/README.md")
FENCE = re.compile(r"^```(\w*)\s*$")
# what a control route answers to `curl -d` (form content type) before CONTRACT §5's leniency
LENIENCY = "Input should be a valid dictionary"
SKIP = re.compile(r"<!-- not run by the README test: (.+?) -->")


@dataclass
class Block:
    doc: str
    line: int
    lang: str
    code: str
    skip: str | None

    @property
    def name(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: str) -> list[Block]:
    """The fenced `sh`/`python` blocks of `doc`, with the skip reason written above each, if any."""
    lines = (ROOT / doc).read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if m.group(1) in ("sh", "python"):
            above = "\n".join(lines[max(0, i - 2) : i])
            skip = SKIP.search(above)
            out.append(Block(doc, i + 1, m.group(1), "\n".join(lines[i + 1 : end]), skip and skip.group(1)))
        i = end + 1
    return out


ALL = [b for doc in DOCS for b in blocks(doc)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    proc, base, ws_port = start_demo_server(tmp_path_factory.mktemp("readme"), clock="real")
    try:
        yield int(base.rsplit(":", 1)[1]), ws_port
    finally:
        stop(proc)


def _untracked() -> set[str]:
    r = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    )
    return set(r.stdout.split())


def _localise(code: str, port: int, ws_port: int) -> str:
    for host in ("127.0.0.1", "localhost"):
        code = code.replace(f"{host}:8000", f"{host}:{port}").replace(f"{host}:8001", f"{host}:{ws_port}")
    return code


def test_the_readmes_have_runnable_blocks() -> None:
    assert len([b for b in ALL if b.lang == "sh" and not b.skip]) >= 4
    assert len([b for b in ALL if b.lang == "python" and not b.skip]) >= 4


@pytest.mark.parametrize("block", ALL, ids=[b.name for b in ALL])
def test_block_runs_as_written(block: Block, server: tuple[int, int], tmp_path: Path) -> None:
    if block.skip:
        pytest.skip(block.skip)
    port, ws_port = server
    code = _localise(block.code, port, ws_port)
    env = {**os.environ, "ADMIN": ADMIN_TOKEN, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if block.lang == "sh":
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
    else:
        script = tmp_path / "block.py"
        script.write_text(code)
        cmd = [sys.executable, str(script)]
    before = _untracked()
    # its own process group: whatever a block leaves running is ended with it
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(
            f"{block.name} did not finish within 150 s (a server or client left running?):\n{out[-3000:]}"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for left in _untracked() - before:  # state files the example clients write
            (ROOT / left).unlink(missing_ok=True)
    assert proc.returncode == 0, f"{block.name} exited {proc.returncode}:\n{out[-3000:]}"
    assert "Traceback" not in out, f"{block.name}:\n{out[-3000:]}"
    # every curl in the blocks is -s: an error document in the output is a failed call
    errors = re.findall(r'\{"error":.{0,200}', out)
    if any(LENIENCY in e for e in errors):
        pytest.xfail("control routes do not yet read a form-typed body as JSON (CONTRACT §5)")
    assert not errors, f"{block.name} answered errors: {errors[:5]}"
