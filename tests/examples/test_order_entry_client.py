"""The Order Entry client example against a live server, through every fault it is built to survive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.order_entry_client import ORDER_FIELDS, HmacV2Signer, OrderEntryClient
from tests.conftest import ADMIN_HEADERS, live_server, make_settings, wait_for

ACCOUNT = "0xa11ce00000000000000000000000000000000001"
CREDS = ("spk_demo_trader_a", "sps_demo_secret_trader_a", "spp_demo_pass_a")


def test_signer_matches_the_contract_text() -> None:
    """The canonical string is the eight CONTRACT §4.1 lines; the query items are sorted as raw
    strings; the signature is hex HMAC-SHA256 keyed by the secret."""
    text = HmacV2Signer.canonical("spk_x", "7", "1700000000000", "get", "/p", "limit=5&fromSeq=1", b"")
    assert text.split("\n") == [
        "SENTICORE-HMAC-V2",
        "sc-key:spk_x",
        "sc-nonce:7",
        "sc-timestamp:1700000000000",
        "method:GET",
        "path:/p",
        "query:fromSeq=1&limit=5",
        "body-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]
    signer = HmacV2Signer("spk_x", "sps_y", "spp_z")
    h = signer.headers("POST", "/p", "", b"{}")
    assert h["SC-Auth-Version"] == "2" and len(h["SC-Signature"]) == 64
    assert int(signer.headers("GET", "/p")["SC-Nonce"]) > int(h["SC-Nonce"])


@pytest.mark.anyio
async def test_client_recovers_from_gap_drop_expired_token_faults_and_restart(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Demo trader A's client starts from the snapshot (its first read hit an injected 503),
    follows the private stream, gap-fills a withheld stretch (skip), resumes after a dropped
    stream (disconnect) with fromSeq, replaces a spare WS token that expired on the domain clock
    (4401 → fresh token), and after a restart from its persisted seq still gets the fills made
    while it was down; its open orders, fills and seq end equal to the server's."""
    settings = make_settings(sqlite_url, seed="demo", clock="frozen", broker_tick_interval_ms=0)
    state = tmp_path / "oe-state.json"
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:

        async def admin(path: str, body: Any = None) -> Any:
            resp = await http.post(f"/_admin{path}", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code in (200, 201), resp.text
            return resp.json()

        def client() -> OrderEntryClient:
            return OrderEntryClient(
                live.base_url, *CREDS, ACCOUNT, state_path=state, backoff_initial=0.05, backoff_max=0.3
            )

        stream = f"/streams/order-entry/{ACCOUNT}"
        await admin(
            "/faults",
            {
                "match": {"method": "GET", "path": "/api/v1/order-entry/accounts/*/open-orders"},
                "action": {"status": 503, "code": "SERVICE_UNAVAILABLE"},
                "times": 1,
            },
        )
        first = client()
        async with first:
            await wait_for(first.connected.is_set, 10)
            assert first.stats["rest_retries"] == 1 and first.orders == {}

            resting = (await first.place(1, "Bid", 60_000, 2))["orderId"]
            await first.wait_until(lambda: resting in first.orders, 5)
            taker = (await first.place(1, "Bid", 65_100, 3, "ioc"))["orderId"]
            await first.wait_until(
                lambda: sum(f["filledQty"] for f in first.fills if f["orderId"] == taker) == 3, 5
            )
            assert taker not in first.orders

            # a gap: two NEW events withheld from live delivery; the third one exposes it
            await admin(f"{stream}/skip", {"count": 2})
            ids = [(await first.place(1, "Bid", p, 1))["orderId"] for p in (59_000, 58_000, 57_000)]
            await first.wait_until(lambda: all(i in first.orders for i in ids), 5)
            assert first.stats["gaps"] == 1

            # a dropped stream while the client cancels: resumed with fromSeq
            connects = first.stats["connects"]
            await admin(f"{stream}/disconnect")
            await first.cancel(1, resting)
            await first.wait_until(
                lambda: resting not in first.orders and first.stats["connects"] > connects, 5
            )

            # the spare WS token expires (domain clock) before it is used: 4401 → a fresh token
            await first.wait_until(lambda: first.connected.is_set() and first.spare_token is not None, 5)
            connects = first.stats["connects"]
            await admin("/clock", {"action": "advance", "ms": 61_000})
            await admin(f"{stream}/disconnect")
            await first.wait_until(lambda: first.stats["connects"] > connects, 5)
            assert first.stats["token_refused"] == 1
            stopped_at = first.last_seq
        assert json.loads(state.read_text())["last_seq"] == stopped_at

        # while the client is down: a fill and a new resting order
        side = client()
        await side.place(1, "Bid", 65_100, 2, "ioc")
        await side.place(1, "Bid", 56_000, 1)
        await side.http.aclose()

        second = client()
        async with second:
            await wait_for(second.connected.is_set, 10)
            snapshot = await second.call("GET", f"/api/v1/order-entry/accounts/{ACCOUNT}/open-orders")
            head = (await http.get(f"/_admin{stream}", headers=ADMIN_HEADERS)).json()["head"]
            events = [e async for e in second._executions(1)]
            assert [e["seq"] for e in events] == list(range(1, head + 1))

            def fills(lo: int, hi: int) -> list[tuple[int, str, int]]:
                return [
                    (e["seq"], e["data"]["fillId"], e["data"]["filledQty"])
                    for e in events
                    if lo <= e["seq"] <= hi and e["data"]["fillId"] and e["data"]["filledQty"]
                ]

            def mine(c: OrderEntryClient) -> list[tuple[int, str, int]]:
                return [(f["seq"], f["fillId"], f["filledQty"]) for f in c.fills]

            await second.wait_until(lambda: second.last_seq == head, 5)
            assert second.orders == {
                o["orderId"]: {k: o[k] for k in ORDER_FIELDS} for o in snapshot["orders"]
            }
            assert set(ids) < set(second.orders) and len(second.orders) == 4
            assert mine(first) == fills(1, stopped_at)
            assert mine(second) == fills(stopped_at + 1, head) and sum(q for *_, q in mine(second)) == 2
            assert json.loads(state.read_text())["last_seq"] == head
