"""Journal bodies (opt-in, bounded, secrets masked) and fault rules that carry the answer body."""

from __future__ import annotations

import pytest

from app.journal import mask_body
from tests.conftest import ADMIN_HEADERS, make_settings, running_app
from tests.musubi.helpers import participant

pytestmark = pytest.mark.anyio


async def test_journal_keeps_no_bodies_by_default(sqlite_url: str) -> None:
    """Without REFSERVER_JOURNAL_BODIES an entry has no body fields."""
    async with running_app(make_settings(sqlite_url)) as r:
        await participant(r.client, "SenderInst", "institution")
        entries = (await r.client.get("/_admin/journal", headers=ADMIN_HEADERS)).json()["entries"]
        assert entries and not any("request_body" in e for e in entries)


async def test_journal_bodies_masked_and_bounded(db_url: str) -> None:
    """With bodies on, the token request keeps its client_id but not its secret, the answer's
    token is masked, and a long body is cut at the bound."""
    async with running_app(make_settings(db_url, journal_bodies=300)) as r:
        si = await participant(r.client, "SenderInst", "institution")
        entries = (await r.client.get("/_admin/journal", headers=ADMIN_HEADERS)).json()["entries"]
        token_call = next(e for e in entries if e["path"] == "/auth/token")
        assert si.client_id in token_call["request_body"]
        assert si.client_secret not in token_call["request_body"] and "***" in token_call["request_body"]
        assert si.token not in token_call["response_body"] and '"token":"***"' in token_call["response_body"]
        await r.client.post("/api/v1/orders", content=b'{"memo": "' + b"x" * 5000 + b'"}', headers=si.h)
        entries = (await r.client.get("/_admin/journal", headers=ADMIN_HEADERS)).json()["entries"]
        long_one = next(e for e in entries if e["path"] == "/api/v1/orders")
        assert len(long_one["request_body"].encode()) <= 300 + len("…".encode())
        assert long_one["request_body"].endswith("…")


def test_mask_body_forms_and_jwts() -> None:
    """Form fields named like secrets and any JWT-looking string are masked; other text stays."""
    assert mask_body(b"client_id=a&client_secret=s3cr3t", 100) == "client_id=a&client_secret=***"
    jwt = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert mask_body(b'{"data": "' + jwt + b'"}', 200) == '{"data":"***"}'
    assert (
        mask_body(b'{"nested": [{"apiSecret": "x", "qty": 1}]}', 200)
        == '{"nested":[{"apiSecret":"***","qty":1}]}'
    )
    assert mask_body(b"", 10) is None


async def test_fault_rule_answers_its_body(sqlite_url: str) -> None:
    """A fault rule with `body` answers that JSON as given, with the rule's status; the rule
    lists it; without `body` the family's shape is kept."""
    async with running_app(make_settings(sqlite_url)) as r:
        si = await participant(r.client, "SenderInst", "institution")
        odd = {"upstream": "gateway timeout", "retry": True}
        rule = {"match": {"path": "/api/v1/orders"}, "action": {"status": 504, "body": odd}, "times": 1}
        made = await r.client.post("/_admin/faults", json=rule, headers=ADMIN_HEADERS)
        assert made.status_code == 201 and made.json()["action"]["body"] == odd
        resp = await r.client.get("/api/v1/orders", headers=si.h)
        assert resp.status_code == 504 and resp.json() == odd
        plain = {"match": {"path": "/api/v1/orders"}, "action": {"status": 503, "code": "DOWN"}, "times": 1}
        await r.client.post("/_admin/faults", json=plain, headers=ADMIN_HEADERS)
        resp = await r.client.get("/api/v1/orders", headers=si.h)
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "DOWN"
