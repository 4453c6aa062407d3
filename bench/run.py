"""`make bench`: run every bench/bench_*.py module and print one table.

Each module exposes `async def run(quick: bool) -> list[dict]`, one dict per figure:
    {"name": str, "value": float, "unit": str,
     "ceiling": float | None, "ceiling_name": str | None,   # measured in the same run
     "goal": str | None}                                   # e.g. ">= 0.25 of ceiling"
Figures, not pass/fail. The table goes to stdout and the rows to bench/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:,.2f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ("figure", "value", "unit", "ceiling (same run)", "ratio", "goal")
    lines = []
    for r in rows:
        ratio = r["value"] / r["ceiling"] if r.get("ceiling") else None
        ceiling = f"{_fmt(r.get('ceiling'))} ({r.get('ceiling_name')})" if r.get("ceiling") else "-"
        lines.append(
            (
                r["name"],
                _fmt(r["value"]),
                r.get("unit", ""),
                ceiling,
                "-" if ratio is None else f"{ratio:.2f}",
                r.get("goal") or "-",
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print(fmt.format(*line))


async def main_async(only: list[str], quick: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    for name in names:
        if only and not any(o in name for o in only):
            continue
        mod = importlib.import_module(f"bench.{name}")
        t0 = time.perf_counter()
        print(f"# {name} …", file=sys.stderr, flush=True)
        try:
            got = await mod.run(quick)
        except Exception as exc:  # a broken bench must not hide the others
            print(f"# {name} failed: {exc!r}", file=sys.stderr)
            continue
        for r in got:
            r.setdefault("module", name)
        rows.extend(got)
        print(f"# {name} done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("only", nargs="*", help="run only modules whose name contains one of these")
    ap.add_argument("--quick", action="store_true", help="shorter runs (noisier figures)")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    rows = asyncio.run(main_async(args.only, args.quick))
    print_table(rows)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
