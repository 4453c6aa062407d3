"""A reference client under seeded chaos (CONTRACT §7.2): the Order Entry client meets HTTP
errors and delays, stream gaps and cut streams, and still ends in the server's state; the
coverage report counts what it recovered from."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.order_entry_client import ORDER_FIELDS, OrderEntryClient
from tests.conftest import ADMIN_HEADERS, live_server, make_settings, wait_for

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


MUSUBI_CHAOS = {
    "seed": 77,
    "families": ["musubi"],
    "http": {"error_rate": 0.2, "statuses": [500, 502, 503], "latency_ms": [0, 5]},
    "streams": {"gap_every_events": [2, 5], "gap_size": [1, 2], "disconnect_every_ms": [150, 400]},
}


@pytest.mark.anyio
async def test_musubi_custodian_survives_chaos(sqlite_url: str) -> None:
    """Under chaos (HTTP errors and delays, stream gaps, cut streams) the custodian example
    accepts, co-signs the best quote of and settles every order exactly once; once chaos stops
    its co-signed quotes and settled set equal the server's."""
    from examples.musubi_custodian import Custodian

    settings = make_settings(sqlite_url, seed="demo", clock="frozen", musubi_auto_quote="off")
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:

        async def admin(method: str, path: str, body: Any = None) -> Any:
            resp = await http.request(method, f"/_admin{path}", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code in (200, 201), resp.text
            return resp.json()

        async def login(client_id: str) -> tuple[str, dict[str, str]]:
            resp = await http.post(
                "/auth/token", json={"client_id": client_id, "client_secret": f"{client_id}-secret"}
            )
            data = resp.json()["data"]
            return data["canton_party_id"], {"Authorization": f"Bearer {data['token']}"}

        async def as_driver(method: str, path: str, h: dict[str, str], body: Any = None) -> Any:
            """The test's own calls retry what chaos answers (they are Musubi calls too)."""
            for _ in range(50):
                resp = await http.request(method, path, json=body, headers=h)
                if resp.status_code < 500:
                    assert resp.status_code in (200, 201), resp.text
                    return resp.json()["data"]
            raise AssertionError("chaos never let the driver through")

        _si_id, si = await login("sender-institution")
        ri_id, _ = await login("receiver-institution")
        cb_id, _ = await login("custodian-b")
        ca_id, _ = await login("custodian-a")
        await admin("POST", "/chaos", MUSUBI_CHAOS)
        custodian = Custodian(
            live.base_url, "custodian-a", "custodian-a-secret", min_quotes=3, quote_window_s=30,
            backoff_initial=0.01, backoff_max=0.05, retries=10,
        )  # fmt: skip
        async with custodian:
            await wait_for(custodian.connected.is_set, 10)
            intents = []
            for i in range(3):
                body = {
                    "sender_custodian_party_id": ca_id,
                    "intent_signature": "3045022100ab",
                    "receiver_party_id": ri_id,
                    "receiver_custodian_party_id": cb_id,
                    "source_contract_id": "00a3f7c21d83#0",
                    "source_currency": "JPYSC0",
                    "target_amount": "1000",
                    "target_currency": "USDCx",
                    "source_amount_max": "151000",
                    "kyc_aml_ref": str(uuid.UUID(int=i + 1)),
                    "jurisdiction_sender": "JP",
                    "jurisdiction_receiver": "KR",
                }
                intents.append(str((await as_driver("POST", "/api/v1/orders", si, body))["intent_id"]))
            for intent in intents:
                await custodian.wait_until(lambda intent=intent: intent in custodian.accepted, 15)
                for fx in ("150.3", "150.2", "150.4"):
                    await admin("POST", f"/musubi/orders/{intent}/quotes", {"fx_rate": fx})
            await custodian.wait_until(lambda: set(intents) <= set(custodian.cosigned), 15)
            await admin("POST", "/clock", {"action": "advance", "ms": 5000})
            await custodian.wait_until(lambda: {k[0] for k in custodian.settled} >= set(intents), 15)
            chaos = await admin("GET", "/chaos")
            await admin("DELETE", "/chaos")
            orders = await as_driver("GET", "/api/v1/orders", si)
            settled = {(o["intent_id"], o["transaction_hash"]) for o in orders if o["status"] == "SETTLED"}
            assert set(custodian.settled) == settled and {k[0] for k in settled} == set(intents)
            assert {i: custodian.cosigned[i] for i in intents} == {
                o["intent_id"]: o["selected_quote_id"] for o in orders if o["intent_id"] in intents
            }
            assert custodian.stats["settled_handled"] == 3
        counts = chaos["counts"]
        assert counts["http_errors"] > 0 and counts["gaps"] + counts["disconnects"] > 0, counts
        assert custodian.stats["retries"] > 0 and custodian.stats["connects"] > 1, custodian.stats


BROKER_CHAOS = {
    "seed": 31,
    "families": ["broker"],
    "http": {"latency_ms": [0, 5]},
    "streams": {"disconnect_every_ms": [100, 300]},
}


@pytest.mark.anyio
async def test_broker_terminal_survives_chaos(sqlite_url: str) -> None:
    """Under chaos (delays, cut streams) the broker terminal example resumes with `last_seq`;
    once chaos stops its balance, open trades and seq equal the server's. Left out: HTTP errors
    (the terminal, by design, does not retry a trade it cannot know was not placed) and gaps
    (broker frames carry no seq: the terminal counts frames, so a withheld frame it never sees
    is a gap it cannot detect)."""
    from examples.broker_terminal import TRADE_FIELDS, BrokerTerminal, table

    login, password = 1001, "demo-1001"
    settings = make_settings(
        sqlite_url,
        seed="demo",
        clock="frozen",
        broker_argon2_memory_kib=1024,
        broker_argon2_time_cost=1,
        broker_tick_interval_ms=0,
    )
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:

        async def admin(method: str, path: str, body: Any = None) -> Any:
            resp = await http.request(method, f"/_admin{path}", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code in (200, 201), resp.text
            return resp.json()

        await admin("POST", "/chaos", BROKER_CHAOS)
        term = BrokerTerminal(
            live.base_url, login, password, ws_url=live.broker_ws_url, confirm_timeout=1.0,
            backoff_initial=0.01, backoff_max=0.05,
        )  # fmt: skip
        async with term:
            await wait_for(term.connected.is_set, 10)
            opened = [await term.open_trade("EURUSD", i % 2, 10 + i) for i in range(3)]

            async def cut_and_back() -> bool:
                # disconnects run on wall time: wait for one, and for the terminal's reconnect
                counts = (await admin("GET", "/chaos"))["counts"]
                return bool(counts["disconnects"] > 0 and term.stats["connects"] > 1)

            await wait_for(cut_and_back, 10, interval=0.02)
            opened += [await term.open_trade("EURUSD", i % 2, 10 + i) for i in range(3, 6)]
            await term.close_trade(opened[0])
            for amount in (100, 200, 300):
                await admin("POST", f"/broker/users/{login}/deposit", {"amount": amount})
            chaos = await admin("GET", "/chaos")
            await admin("DELETE", "/chaos")
            token = (await http.post("/sign/in", json={"login": login, "password": password})).json()[
                "__token"
            ]
            h = {"Authorization": token}
            head = (await http.get(f"/_admin/streams/broker/{login}", headers=ADMIN_HEADERS)).json()["head"]

            async def same() -> bool:
                row = table((await http.get("/account/balance", headers=h)).json())[0]
                trades = {}
                for tt in (1, 3):
                    for t in table((await http.get("/trades", params={"tradeType": tt}, headers=h)).json()):
                        trades[t["order"]] = {k: t[k] for k in TRADE_FIELDS}
                return (
                    term.seq == head
                    and term.trades == trades
                    and {k: term.account[k] for k in ("balance", "credit", "margin")}
                    == {k: row[k] for k in ("balance", "credit", "margin")}
                )

            await wait_for(same, 10)
            assert set(term.trades) == set(opened[1:])
        counts = chaos["counts"]
        assert counts["disconnects"] > 0 and counts["http_delays"] > 0, counts
        assert term.stats["connects"] > 1, term.stats
