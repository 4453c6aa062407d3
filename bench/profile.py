"""Profile the server process on one benchmark path with py-spy (`pip install py-spy`).

    python -m bench.profile get|settle|broker|oe [--gil] [--out DIR]

Starts the path's benchmark, attaches `py-spy record -f raw` (folded stacks) to the server
subprocess while the path is under load, and prints the top frames, inclusive and self.
`--gil` samples only the thread holding the GIL (where the CPU goes, the writer thread
included); without it, every thread's wall time (waits show up as the frame that waits).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench import bench_broker as bb
from bench import bench_musubi as bm
from bench import bench_order_entry as boe


class Spy:
    def __init__(self, out: Path, gil: bool) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise SystemExit("py-spy is not installed: pip install py-spy")
        self.exe, self.out, self.gil = exe, out, gil

    def child(self) -> int:
        """The newest server subprocess of this process."""
        found = subprocess.run(
            ["pgrep", "-n", "-P", str(os.getpid()), "-f", "app.cli"], capture_output=True, text=True
        ).stdout.split()
        if not found:
            raise RuntimeError("no server subprocess found")
        return int(found[0])

    def record(self, pid: int, name: str, seconds: int) -> subprocess.Popen[bytes]:
        cmd = [self.exe, "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "--nonblocking"]
        cmd += ["--gil"] if self.gil else []
        cmd += ["-f", "raw", "-o", str(self.out / f"{name}.txt")]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def musubi_get(spy: Spy) -> list[str]:
    async with bm.server() as port:
        c = await bm.Conn.open(port)
        si, ri = await bm.participant(c, "SI", "institution"), await bm.participant(c, "RI", "institution")
        sc, rc = await bm.participant(c, "SC", "custodian"), await bm.participant(c, "RC", "custodian")
        _st, body = await c.request(
            "POST", "/api/v1/orders", bm._auth(si["token"]), bm.order_body(si, sc, ri, rc)
        )
        iid = orjson.loads(body)["data"]["intent_id"]
        c.close()
        get = (
            f"GET /api/v1/orders/{iid} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {si['token']}\r\n\r\n"
        )
        p = spy.record(spy.child(), "musubi_get", 5)
        await bm._rate(port, get.encode(), 50, 5.5)
        p.wait()
    return ["musubi_get"]


async def musubi_settle(spy: Spy) -> list[str]:
    task = asyncio.create_task(bm.bench_settle(False))
    await asyncio.sleep(4)  # past the set-up (participants, tokens)
    p = spy.record(spy.child(), "musubi_settle", 6)
    await task
    p.wait()
    return ["musubi_settle"]


async def broker_round_trips(spy: Spy) -> list[str]:
    task = asyncio.create_task(bb.round_trips(False))
    await asyncio.sleep(9)  # past the set-up and the /health ceiling
    p = spy.record(spy.child(), "broker_round_trips", 3)
    await task
    p.wait()
    return ["broker_round_trips"]


async def order_entry(spy: Spy) -> list[str]:
    names = []
    with tempfile.TemporaryDirectory() as tmp:
        server = boe.Server(f"{tmp}/bench.db")
        server.start()
        assert server.proc is not None
        try:
            creds = await boe._agents(server.port, 16)
            for mode, conns in (("single", 16), ("batch50", 8)):
                cfg: dict[str, Any] = {
                    "port": server.port,
                    "mode": mode,
                    "duration": 5.5,
                    "connections": conns,
                    "creds": creds[:conns],
                }
                p = spy.record(server.proc.pid, f"order_entry_{mode}", 5)
                await asyncio.to_thread(boe._run_load, cfg)
                p.wait()
                names.append(f"order_entry_{mode}")
        finally:
            server.stop()
    return names


def top(path: Path, n: int = 30) -> str:
    """Inclusive and self shares of the frames in a py-spy raw (folded) file."""
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        k = int(count)
        total += k
        frames = [f.split(" (")[0] for f in stack.split(";")]
        for f in set(frames):
            incl[f] += k
        self_[frames[-1]] += k
    lines = [f"{path.name}: {total} samples", "  inclusive:"]
    lines += [f"  {100 * v / total:5.1f}%  {f}" for f, v in incl.most_common(n)]
    lines += ["  self:"] + [f"  {100 * v / total:5.1f}%  {f}" for f, v in self_.most_common(12)]
    return "\n".join(lines)


PATHS = {"get": musubi_get, "settle": musubi_settle, "broker": broker_round_trips, "oe": order_entry}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", choices=sorted(PATHS))
    ap.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    ap.add_argument("--out", default=tempfile.gettempdir())
    args = ap.parse_args()
    spy = Spy(Path(args.out), args.gil)
    for name in asyncio.run(PATHS[args.path](spy)):
        print(top(Path(args.out) / f"{name}.txt"))


if __name__ == "__main__":
    main()
