"""`refserver coverage` output: text and JUnit rendering, and the --fail-under exit status."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from app.integrator import report

REPORT: dict[str, Any] = {
    "since_ms": 0,
    "callers": ["p1"],
    "families": {
        "musubi": {
            "operations": [
                {"method": "GET", "path": "/a", "calls": 2, "statuses": {"200": 2}, "codes": {}},
                {"method": "POST", "path": "/a", "calls": 0, "statuses": {}, "codes": {}},
            ],
            "streams": {"events": {"subscriptions": 1, "resumes": {}, "gap_fills": 0, "kinds": {}}},
            "recovery": {"idempotent_retry": {"met": False, "count": 0}},
            "met": 2,
            "of": 5,
            "missing": ["POST /a", "resume events", "recovery idempotent_retry"],
        }
    },
    "met": 2,
    "of": 5,
}


def test_text_lists_percentages_and_missing() -> None:
    """One line per family with met/of and percent, then each missing item."""
    out = report.text(REPORT)
    assert "musubi          2/5     40.0%" in out
    assert "  missing: POST /a" in out and "  missing: recovery idempotent_retry" in out
    assert out.rstrip().endswith("40.0%")


def test_junit_has_one_case_per_item_and_failures_for_missing() -> None:
    """Every catalogue item is a test case; exactly the missing ones fail."""
    root = ElementTree.fromstring(report.junit(REPORT).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "5" and suite.get("failures") == "3"
    cases = {c.get("name"): c.find("failure") is not None for c in suite.iter("testcase")}
    assert cases == {
        "GET /a": False,
        "POST /a": True,
        "subscribe events": False,
        "resume events": True,
        "recovery idempotent_retry": True,
    }


@pytest.mark.parametrize(("bar", "code"), [(None, 0), (40.0, 0), (40.1, 1)])
def test_fail_under(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bar: float | None, code: int) -> None:
    """The exit status is 1 exactly when the total is under the bar; the file holds the report."""
    monkeypatch.setattr(report, "fetch", lambda *a: REPORT)
    out = tmp_path / "c.json"
    args = argparse.Namespace(
        url="http://x",
        admin_token="t",
        family=None,
        caller=None,
        fail_under=bar,
        format="json",
        output=str(out),
    )
    assert report.run(args) == code
    assert json.loads(out.read_text()) == REPORT
