"""`refserver coverage`: fetch `GET /_admin/coverage` and print it for people or CI.

Formats: `text` (one line per family, then what is missing), `json` (the report as served),
`junit` (one test suite per family, one test case per catalogue item, a failure for each item
not met, so CI shows the missing ones by name). The exit status is 1 when the coverage is under
`--fail-under`, 2 when the server cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any
from xml.etree import ElementTree as ET

from app.integrator.coverage import percent


def add_parser(sub: Any) -> None:
    p = sub.add_parser("coverage", help="print the client coverage of a running server (CI: --fail-under)")
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    p.add_argument("--admin-token", required=True)
    p.add_argument("--family", default=None)
    p.add_argument("--caller", default=None)
    p.add_argument("--fail-under", type=float, default=None, metavar="PCT")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.add_argument("--output", default=None, help="write the report to this file instead of stdout")


def fetch(url: str, token: str, family: str | None, caller: str | None) -> dict[str, Any]:
    params = {k: v for k, v in (("family", family), ("caller", caller)) if v is not None}
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    req = urllib.request.Request(
        url.rstrip("/") + "/_admin/coverage" + query, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def text(report: dict[str, Any]) -> str:
    lines = []
    for name, fam in report["families"].items():
        lines.append(f"{name:<12} {fam['met']:>4}/{fam['of']:<4} {percent(fam['met'], fam['of']):5.1f}%")
        lines.extend(f"  missing: {item}" for item in fam["missing"])
    lines.append(
        f"{'total':<12} {report['met']:>4}/{report['of']:<4} {percent(report['met'], report['of']):5.1f}%"
    )
    return "\n".join(lines) + "\n"


def junit(report: dict[str, Any]) -> str:
    suites = ET.Element("testsuites", name="refserver coverage", tests=str(report["of"]))
    suites.set("failures", str(report["of"] - report["met"]))
    for name, fam in report["families"].items():
        missing = set(fam["missing"])
        suite = ET.SubElement(
            suites, "testsuite", name=f"coverage.{name}", tests=str(fam["of"]), failures=str(len(missing))
        )
        for item in _items(fam):
            case = ET.SubElement(suite, "testcase", classname=f"coverage.{name}", name=item)
            if item in missing:
                ET.SubElement(case, "failure", message=f"not exercised: {item}")
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _items(fam: dict[str, Any]) -> list[str]:
    """Every catalogue item of a family report, in the report's order."""
    items = [f"{o['method']} {o['path']}" for o in fam["operations"]]
    items = [i for i in items if i in fam["missing"] or _called(fam, i)]
    for ch in fam["streams"]:
        items += [f"subscribe {ch}", f"resume {ch}"]
    items += [f"recovery {p}" for p in fam["recovery"]]
    return items


def _called(fam: dict[str, Any], item: str) -> bool:
    return any(f"{o['method']} {o['path']}" == item and o["calls"] for o in fam["operations"])


def run(args: argparse.Namespace) -> int:
    try:
        report = fetch(args.url, args.admin_token, args.family, args.caller)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        sys.stderr.write(f"refserver coverage: cannot read {args.url}/_admin/coverage: {exc}\n")
        return 2
    if args.format == "json":
        out = json.dumps(report, indent=2) + "\n"
    elif args.format == "junit":
        out = junit(report)
    else:
        out = text(report)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(out)
    else:
        sys.stdout.write(out)
    pct = percent(report["met"], report["of"])
    if args.fail_under is not None and pct < args.fail_under:
        sys.stderr.write(f"refserver coverage: {pct:.1f}% is under --fail-under {args.fail_under:g}%\n")
        return 1
    return 0
