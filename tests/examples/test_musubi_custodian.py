"""The Musubi custodian example against a live server, through every fault it is built to survive."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from examples.musubi_custodian import Custodian
from tests.conftest import ADMIN_HEADERS, live_server, make_settings, wait_for

TTL_S = 120
SECRET = "{}-secret"


class Party:
    """A demo participant driven by the test (institution, market maker)."""

    def __init__(self, http: httpx.AsyncClient, client_id: str) -> None:
        self.http, self.client_id, self.token, self.party_id = http, client_id, "", ""

    async def login(self) -> Party:
        resp = await self.http.post(
            "/auth/token", json={"client_id": self.client_id, "client_secret": SECRET.format(self.client_id)}
        )
        data = resp.json()["data"]
        self.token, self.party_id = data["token"], data["canton_party_id"]
        return self

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        resp = await self.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert resp.status_code == status, resp.text
        return resp.json()["data"]


@pytest.mark.anyio
async def test_custodian_accepts_cosigns_best_and_settles_once(sqlite_url: str) -> None:
    """The demo CustodianA automation accepts proposals and co-signs the best valid quote (not an
    expired cheaper one, not one over source_amount_max); it detects a gap in the SSE ids (skip)
    and reconnects from its last processed id, resumes after a dropped stream with Last-Event-ID,
    refreshes its token on 401 after the clock passed the token lifetime and retries an injected
    502 CANTON_ERROR; a lone quote is co-signed when its quote window closes; SETTLED is handled once per (intent_id, transaction_hash) even when the whole
    stream is replayed; its proactive refresh happens 60 s before expiry. End state = server's."""
    settings = make_settings(
        sqlite_url,
        seed="demo",
        clock="frozen",
        musubi_auto_quote="off",
        musubi_token_ttl_s=TTL_S,
        broker_argon2_memory_kib=1024,
        broker_argon2_time_cost=1,
    )
    async with live_server(settings) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:

        async def admin(path: str, body: Any = None) -> Any:
            resp = await http.post(f"/_admin{path}", json=body, headers=ADMIN_HEADERS)
            assert resp.status_code in (200, 201), resp.text
            return resp.json()

        async def now_ms() -> int:
            return int((await http.get("/_admin/clock", headers=ADMIN_HEADERS)).json()["now_ms"])

        def iso(ms: int) -> str:
            from datetime import UTC, datetime

            return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"

        si = await Party(http, "sender-institution").login()
        ri = await Party(http, "receiver-institution").login()
        cb = await Party(http, "custodian-b").login()
        mma = await Party(http, "market-maker-a").login()
        mmb = await Party(http, "market-maker-b").login()

        async def create_order() -> str:
            body = {
                "sender_custodian_party_id": custodian.party_id,
                "intent_signature": "3045022100ab",
                "receiver_party_id": ri.party_id,
                "receiver_custodian_party_id": cb.party_id,
                "source_contract_id": "00a3f7c21d83#0",
                "source_currency": "JPYSC0",
                "target_amount": "1000",
                "target_currency": "USDCx",
                "source_amount_max": "151000",
                "kyc_aml_ref": str(uuid.uuid4()),
                "jurisdiction_sender": "JP",
                "jurisdiction_receiver": "KR",
                "memo": "invoice 42",
            }
            return str((await si.call("POST", "/api/v1/orders", body, 201))["intent_id"])

        async def mm_quote(mm: Party, intent_id: str, fx: str, valid_ms: int) -> str:
            body = {"fx_rate": fx, "valid_until": iso(await now_ms() + valid_ms)}
            return str(
                (await mm.call("POST", f"/api/v1/quote-requests/{intent_id}/quotes", body, 201))["quote_id"]
            )

        async def server_order(intent_id: str) -> dict[str, Any]:
            return dict(await si.call("GET", f"/api/v1/orders/{intent_id}"))

        custodian = Custodian(
            live.base_url,
            "custodian-a",
            "custodian-a-secret",
            min_quotes=3,
            quote_window_s=30,
            backoff_initial=0.05,
            backoff_max=0.3,
        )
        async with custodian:
            await wait_for(custodian.connected.is_set, 10)
            stream = f"/streams/musubi/{custodian.party_id}"

            # order A: the proposal is accepted by the automation
            a = await create_order()
            await custodian.wait_until(lambda: a in custodian.accepted, 5)
            assert (await server_order(a))["custodian_accepted_at"] is not None

            # quotes: the cheapest lapses, one breaks source_amount_max, and a gap hides one
            await mm_quote(mma, a, "150.1", 2000)  # 150100: best, but expires
            await admin("/clock", {"action": "advance", "ms": 3000})
            await admin(f"{stream}/skip", {"count": 1})
            await mm_quote(mmb, a, "152", 60_000)  # 152000 > 151000: withheld from live delivery
            best = (await admin(f"/musubi/orders/{a}/quotes", {"fx_rate": "150.8"}))["quote_id"]
            await custodian.wait_until(lambda: a in custodian.cosigned, 5)
            assert custodian.stats["gaps"] == 1 and custodian.cosigned[a] == best
            order = await server_order(a)
            assert order["selected_quote_id"] == best and order["quote_accepted_at"] is not None

            # a dropped stream while the order settles: resumed with Last-Event-ID
            connects = custodian.stats["connects"]
            await admin(f"{stream}/disconnect")
            await admin("/clock", {"action": "advance", "ms": 1000})
            await admin("/clock", {"action": "advance", "ms": 4000})
            await custodian.wait_until(lambda: any(k[0] == a for k in custodian.settled), 5)
            assert custodian.stats["connects"] > connects

            # the whole stream again from id 0: nothing is accepted, co-signed or settled twice
            head = (await http.get(f"/_admin{stream}", headers=ADMIN_HEADERS)).json()["head"]
            await custodian.replay_from(0)
            await custodian.wait_until(lambda: custodian.last_event_id == head, 5)
            assert custodian.stats["settled_handled"] == 1
            assert custodian.stats["accepts"] == 1 and custodian.stats["cosigns"] == 1

            # order B after the token lifetime: 401 → refresh → retry; an injected 502 on co-sign → retry
            await admin("/clock", {"action": "advance", "ms": (TTL_S + 1) * 1000})
            await si.login()
            await admin(
                "/faults",
                {
                    "match": {"method": "POST", "path": "/api/v1/orders/*/quotes/*/accept"},
                    "action": {"status": 502, "code": "CANTON_ERROR"},
                    "times": 1,
                },
            )
            b = await create_order()
            await custodian.wait_until(lambda: b in custodian.accepted, 5)
            assert custodian.stats["forced_refreshes"] == 1
            for fx in ("150.3", "150.2", "150.4"):
                await admin(f"/musubi/orders/{b}/quotes", {"fx_rate": fx})
            await custodian.wait_until(lambda: b in custodian.cosigned, 5)
            assert custodian.stats["retries"] == 1

            # order C gets a single quote: co-signed when the quote window closes
            custodian.quote_window_s = 0.2
            c = await create_order()
            await custodian.wait_until(lambda: c in custodian.accepted, 5)
            lone = (await admin(f"/musubi/orders/{c}/quotes", {"fx_rate": "150.6"}))["quote_id"]
            await custodian.wait_until(lambda: custodian.cosigned.get(c) == lone, 5)

            await admin("/clock", {"action": "advance", "ms": 5000})
            await custodian.wait_until(lambda: {k[0] for k in custodian.settled} == {a, b, c}, 5)

            # end state: the settled set and the co-signed quotes are the server's
            orders = await si.call("GET", "/api/v1/orders", None)
            settled = {(o["intent_id"], o["transaction_hash"]) for o in orders if o["status"] == "SETTLED"}
            assert set(custodian.settled) == settled and len(settled) == 3
            assert custodian.cosigned == {o["intent_id"]: o["selected_quote_id"] for o in orders}
            assert (await server_order(b))["source_amount_actual"] == "150200"
            head = (await http.get(f"/_admin{stream}", headers=ADMIN_HEADERS)).json()["head"]
            await custodian.wait_until(lambda: custodian.last_event_id == head, 5)

            # proactive refresh: a cached token is reused until 60 s before it expires
            fake = [custodian.tokens.expires_at - 61]
            custodian.tokens.clock = lambda: fake[0]
            fetches = custodian.tokens.fetches
            await custodian.tokens.get()
            assert custodian.tokens.fetches == fetches
            fake[0] += 2
            await custodian.tokens.get()
            assert custodian.tokens.fetches == fetches + 1
