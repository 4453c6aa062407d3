"""Schema-driven fuzzing in the suite: a bounded schemathesis run over every operation of a live
`--seed demo` server finds no 5xx and no answer departing from the declared status, content
type or schema (`make fuzz` runs a deeper one)."""

from __future__ import annotations

import httpx
import pytest

from app.routers.order_entry.schemas import ACCOUNT_A
from tests.contract import fuzz
from tests.contract.client import broker_token, sc_headers


def test_bounded_fuzz_finds_no_server_error_and_no_nonconforming_answer(demo_server: str) -> None:
    report = fuzz.run(demo_server, max_examples=3, deadline_s=40)
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


@pytest.mark.xfail(strict=True, reason="KNOWN.md 1: broker ids beyond 64 bits answer 500")
def test_known_fault_1_broker_ids_beyond_64_bits(demo_server: str) -> None:
    with httpx.Client(base_url=demo_server) as c:
        token = broker_token(c, "1001")
        r = c.request("DELETE", "/script", json={"id": 2**80}, headers={"Authorization": token})
    assert r.status_code < 500


@pytest.mark.xfail(strict=True, reason="KNOWN.md 2: fromSeq beyond 64 bits answers 500")
def test_known_fault_2_gap_fill_from_seq_beyond_64_bits(demo_server: str) -> None:
    path = f"/api/v1/order-entry/accounts/{ACCOUNT_A}/executions?fromSeq={2**80}&limit=5"
    r = httpx.get(demo_server + path, headers=sc_headers("spk_demo_trader_a", "GET", path, b""))
    assert r.status_code < 500
