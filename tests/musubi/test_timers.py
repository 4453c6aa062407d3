"""Musubi timers: re-armed after a restart; a one-day clock advance over many open orders
answers quickly, fires every timer in time order, and never holds the event loop for long."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings, running_app
from tests.musubi.helpers import advance, cast, create, open_rfq, quote

pytestmark = pytest.mark.anyio

RFQ_KEYS = {"intent_id", "created_at", "expires_at", "source_currency", "target_amount", "target_currency"}


async def test_timers_rearmed_after_restart(db_url: str) -> None:
    """Timers live in memory only: after a restart they are re-armed from the tables, so a
    co-signed order settles and a pending one expires on the (persisted) frozen clock."""
    settings = make_settings(db_url)
    async with running_app(settings) as r:
        c = await cast(r.client)
        settling = (await open_rfq(r.client, c))["intent_id"]
        q = await quote(r.client, c.mm1, settling, "150")
        await r.client.post(f"/api/v1/orders/{settling}/quotes/{q['quote_id']}/accept", headers=c.sc.h)
        expiring = (await create(r.client, c))["intent_id"]
    async with running_app(settings) as r:
        assert (await r.client.get(f"/api/v1/orders/{settling}", headers=c.si.h)).json()["data"][
            "status"
        ] == "QUOTED"
        await advance(r.client, 1000)
        assert (await r.client.get(f"/api/v1/orders/{settling}", headers=c.si.h)).json()["data"][
            "status"
        ] == "EXECUTING"
    async with running_app(settings) as r:
        await advance(r.client, 4000)
        assert (await r.client.get(f"/api/v1/orders/{settling}", headers=c.si.h)).json()["data"][
            "status"
        ] == "SETTLED"
        await advance(r.client, 300_000)
        o = (await r.client.get(f"/api/v1/orders/{expiring}", headers=c.si.h)).json()["data"]
        assert (o["status"], o["failure_reason"]) == ("EXPIRED", "NO_QUOTE")
