"""Schema-driven fuzzing in the suite: a bounded schemathesis run over every operation of a live
`--seed demo` server finds no 5xx and no answer departing from the declared status, content
type or schema (`make fuzz` runs a deeper one)."""

from __future__ import annotations

import pytest

from tests.contract import fuzz


def test_bounded_fuzz_finds_no_server_error_and_no_nonconforming_answer(demo_server: str) -> None:
    _bounded(demo_server)


@pytest.mark.postgres
def test_bounded_fuzz_on_postgresql(demo_server_pg: str) -> None:
    """The same run against a server on PostgreSQL (its integer and text bounds differ from SQLite's)."""
    _bounded(demo_server_pg)


def _bounded(base_url: str) -> None:
    report = fuzz.run(base_url, max_examples=3, deadline_s=40)
    assert report.operations >= 80, "every family's operations are fuzzed"
    found = {op: f for op, f in report.failures.items() if op not in fuzz.KNOWN}
    assert not found, found
    answered_ok = {op for op, seen in report.answered.items() if any(s < 300 for s in seen)}
    # the credentials work: reads of every family answer 2xx, not only 401s
    for op in (
        "GET /api/v1/orders",
        "GET /account/balance",
        "GET /api/v1/order-entry/markets",
        "GET /_admin/clock",
    ):
        assert op in answered_ok, op
