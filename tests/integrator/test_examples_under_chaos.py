"""A reference client under seeded chaos (CONTRACT §7.2): the Order Entry client meets HTTP
errors and delays, stream gaps and cut streams, and still ends in the server's state; the
coverage report counts what it recovered from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.order_entry_client import ORDER_FIELDS, OrderEntryClient
from tests.conftest import ADMIN_HEADERS, live_server, make_settings

ACCOUNT = "0xa11ce00000000000000000000000000000000001"
CREDS = ("spk_demo_trader_a", "sps_demo_secret_trader_a", "spp_demo_pass_a")
CHAOS = {
    "seed": 2026,
    "families": ["order-entry"],
    "http": {"error_rate": 0.25, "statuses": [500, 502, 503], "latency_ms": [0, 5]},
    "streams": {"gap_every_events": [2, 5], "gap_size": [1, 2], "disconnect_every_ms": [150, 400]},
}


@pytest.mark.anyio
async def test_order_entry_client_survives_chaos(sqlite_url: str, tmp_path: Path) -> None:
    """Under chaos the client retries its idempotent batches and reads, gap-fills withheld
    events and resumes cut streams; once chaos stops its open orders and seq equal the server's."""
    settings = make_settings(sqlite_url, seed="demo", clock="frozen", broker_tick_interval_ms=0)
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:

        async def admin(method: str, path: str, body: Any = None) -> Any:
            resp = await http.request(method, f"/_admin{path}", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code in (200, 201), resp.text
            return resp.json()

        await admin("POST", "/chaos", CHAOS)
        client = OrderEntryClient(
            live.base_url, *CREDS, ACCOUNT, state_path=tmp_path / "s.json", backoff_initial=0.01, backoff_max=0.05,
            retries=8,
        )  # fmt: skip
        async with client:
            placed = []
            for i in range(12):
                placed.append((await client.place(1, "Bid", 50_000 + i, 1))["orderId"])
            await client.cancel(1, placed[0])
            await client.place(1, "Bid", 65_100, 2, "ioc")  # fills against the liquidity provider
            chaos = await admin("GET", "/chaos")
            await admin("DELETE", "/chaos")
            # a gap at the tail shows only with a later event: gaps already drawn (at most
            # gap_size) still withhold the next events, the third one exposes them
            for i in range(3):
                placed.append((await client.place(1, "Bid", 40_000 + i, 1))["orderId"])
            head = (await http.get(f"/_admin/streams/order-entry/{ACCOUNT}", headers=ADMIN_HEADERS)).json()[
                "head"
            ]
            await client.wait_until(lambda: client.last_seq == head, 10)
            snapshot = await client.call("GET", f"/api/v1/order-entry/accounts/{ACCOUNT}/open-orders")
            assert client.orders == {
                o["orderId"]: {k: o[k] for k in ORDER_FIELDS} for o in snapshot["orders"]
            }
            assert set(placed[1:]) <= set(client.orders) and placed[0] not in client.orders
        counts = chaos["counts"]
        assert counts["http_errors"] > 0 and counts["gaps"] > 0, counts
        assert client.stats["rest_retries"] > 0 and client.stats["gaps"] + client.stats["connects"] > 1, (
            client.stats
        )
        journal = (await http.get("/_admin/journal", params={"limit": 1000}, headers=ADMIN_HEADERS)).json()[
            "entries"
        ]
        assert any(e.get("chaos") and e["action"].get("code") == "CHAOS" for e in journal)
        cov = (
            await http.get("/_admin/coverage", params={"family": "order-entry"}, headers=ADMIN_HEADERS)
        ).json()
        assert cov["families"]["order-entry"]["recovery"]["fault_then_success"]["met"]
