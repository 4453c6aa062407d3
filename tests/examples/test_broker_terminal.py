"""The broker terminal example against a live server, through every fault it is built to survive."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from examples.broker_terminal import B_FIELDS, TRADE_FIELDS, BrokerTerminal, table
from tests.conftest import ADMIN_HEADERS, live_server, make_settings, wait_for

LOGIN, PASSWORD = 1001, "demo-1001"
TTL_S = 120
SYMBOLS = ["EURUSD", "GBPUSD"]


async def server_view(http: httpx.AsyncClient) -> tuple[dict[str, Any], dict[int, dict[str, Any]], int]:
    """What the server says: balance, open trades and pending orders, the account stream head."""
    token = (await http.post("/sign/in", json={"login": LOGIN, "password": PASSWORD})).json()["__token"]
    h = {"Authorization": token}
    row = table((await http.get("/account/balance", headers=h)).json())[0]
    trades: dict[int, dict[str, Any]] = {}
    for tt in (1, 3):
        for t in table((await http.get("/trades", params={"tradeType": tt}, headers=h)).json()):
            trades[t["order"]] = {k: t[k] for k in TRADE_FIELDS}
    head = (await http.get(f"/_admin/streams/broker/{LOGIN}", headers=ADMIN_HEADERS)).json()["head"]
    return {k: row[k] for k in ("balance", "credit", "margin")}, trades, head


@pytest.mark.anyio
async def test_terminal_survives_drop_gap_expiry_and_faults(sqlite_url: str) -> None:
    """The terminal signs in as the demo login, mirrors the account over REST + WebSocket (broker
    port) and trades; it survives a dropped read (fault rule), a dropped stream (resume with
    last_seq), a gap (skip: its own trade's event never comes → resync by seq), an expired token on
    reconnect (sign in again) and on REST (401 → sign in, retry once); its balance, trades, quotes
    and seq end equal to the server's."""
    settings = make_settings(
        sqlite_url,
        seed="demo",
        clock="frozen",
        broker_argon2_memory_kib=1024,
        broker_argon2_time_cost=1,
        broker_tick_interval_ms=1000,
        broker_token_ttl_s=TTL_S,
    )
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:

        async def admin(path: str, body: Any = None) -> Any:
            resp = await http.post(f"/_admin{path}", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code in (200, 201), resp.text
            return resp.json()

        # fault: the terminal's first /trades read is cut without an answer → it retries the read
        await admin(
            "/faults", {"match": {"method": "GET", "path": "/trades"}, "action": {"drop": True}, "times": 1}
        )
        term = BrokerTerminal(
            live.base_url,
            LOGIN,
            PASSWORD,
            ws_url=live.broker_ws_url,
            symbols=SYMBOLS,
            confirm_timeout=1.0,
            backoff_initial=0.05,
            backoff_max=0.3,
        )
        async with term:
            await wait_for(term.connected.is_set, 10)
            assert term.stats["rest_retries"] == 1 and term.account["balance"] == 10_000.0

            # quotes: a set price and the simulator's steps reach the local view
            await admin("/broker/prices", {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1001})
            await term.wait_until(lambda: term.quotes["EURUSD"][:2] == (1.1, 1.1001), 5)
            await admin("/clock", {"action": "advance", "ms": 2000})

            first = await term.open_trade("EURUSD", 0, 10)
            assert term.trades[first]["symbol"] == "EURUSD"

            # a dropped stream: the terminal reconnects and resumes with last_seq
            await admin(f"/streams/broker/{LOGIN}/disconnect")
            await admin(f"/broker/users/{LOGIN}/deposit", {"amount": 250})
            await term.wait_until(
                lambda: term.stats["connects"] >= 2 and term.account["balance"] == 10_250.0, 5
            )

            # a gap: the next two events (o and b of our own trade) are withheld from live delivery
            await admin(f"/streams/broker/{LOGIN}/skip", {"count": 2})
            second = await term.open_trade("GBPUSD", 1, 20)
            assert term.stats["resyncs"] == 1 and second in term.trades

            # an expired token, met on reconnect: INVALID_TOKEN → sign in → resume
            sign_ins, connects = term.stats["sign_ins"], term.stats["connects"]
            await admin("/clock", {"action": "advance", "ms": (TTL_S + 1) * 1000})
            await admin(f"/streams/broker/{LOGIN}/disconnect")
            await term.wait_until(
                lambda: term.stats["sign_ins"] > sign_ins and term.stats["connects"] > connects, 5
            )

            # an expired token, met on REST: 401 → sign in → the close is retried once
            await admin("/clock", {"action": "advance", "ms": (TTL_S + 1) * 1000})
            sign_ins = term.stats["sign_ins"]
            await term.close_trade(first)
            assert term.stats["sign_ins"] == sign_ins + 1 and first in term.closed

            # end state: the terminal's view is the server's
            balance, trades, head = await server_view(http)

            async def same() -> bool:
                rows = (await http.get("/_admin/broker/prices", headers=ADMIN_HEADERS)).json()["prices"]
                server_quotes = {p["symbol"]: (p["bid"], p["ask"]) for p in rows if p["symbol"] in SYMBOLS}
                mine = {s: q[:2] for s, q in term.quotes.items()}
                return (
                    {k: term.account[k] for k in balance} == balance
                    and term.trades == trades
                    and term.seq == head
                    and mine == server_quotes
                )

            await wait_for(same, 5)
            assert set(trades) == {second}
            assert set(term.account) == set(B_FIELDS)
