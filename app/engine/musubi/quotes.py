"""Market makers' quotes on open RFQs (CONTRACT §2.3-§2.4), and the simulated market makers.

An RFQ opens when the sender custodian accepts the proposal; makers quote until it closes
(a quote is selected, or the order leaves PENDING or expires). The simulated makers quote once
per RFQ, `musubi_quote_delay_ms` after it opens (a timer job), around the reference rate.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from decimal import Decimal

import orjson

from app.engine.errors import Conflict
from app.engine.musubi import validate as v
from app.engine.musubi.model import (
    REFERENCE_RATES,
    Changes,
    Ev,
    Memory,
    Order,
    Participant,
    Quote,
    conflict,
    dec_str,
    new_id,
    not_found,
    source_amount,
)
from app.engine.musubi.orders import require_network
from app.engine.musubi.seed import SIM_MM_NAME, demo_party_id
from app.engine.musubi.store import Store

SIM_QUOTE_VALIDITY_MS = 60_000


def sim_rate(o: Order, mm_name: str) -> str:
    """Around the reference rate: makers charge 0.1-1.2 % over it (deterministic per maker/order)."""
    ref = REFERENCE_RATES[(o.source_currency, o.target_currency)]
    rng = random.Random(f"{o.intent_id}:{mm_name}")
    spread = Decimal(rng.randint(10, 120)) / Decimal(10_000)
    return dec_str((ref * (1 + spread)).quantize(Decimal("0.00000001")))


class Quotes:
    def __init__(self, memory: Memory, store: Store, now_ms: Callable[[], int]) -> None:
        self.memory = memory
        self.store = store
        self.now_ms = now_ms

    async def submit(self, mm: Participant, intent_id: str, body: object) -> Quote:
        """A market maker's quote `{fx_rate, target_amount?, valid_until}`."""
        o = self.memory.orders.get(intent_id)
        if o is None or o.custodian_accepted_at is None:
            raise not_found(f"quote request {intent_id} not found")
        fx, vu = v.quote_terms(body, o, self.now_ms(), noun="quote request")
        return await self._add(mm.party_id, intent_id, fx, vu)

    async def admin_quote(self, intent_id: str, body: object) -> Quote:
        """Control API: the built-in simulated market maker quotes now."""
        o = self.memory.orders.get(intent_id)
        if o is None:
            raise not_found(f"order {intent_id} not found")
        require_network(self.memory)
        now = self.now_ms()
        fx, vu = v.quote_terms(
            body,
            o,
            now,
            noun="order",
            fx_default=sim_rate(o, SIM_MM_NAME),
            valid_default=min(now + SIM_QUOTE_VALIDITY_MS, o.expires_at),
        )
        return await self._add(demo_party_id(SIM_MM_NAME), intent_id, fx, vu)

    async def _add(self, mm_party: str, intent_id: str, fx_rate: str, valid_until: int) -> Quote:
        async with self.memory.lock(intent_id):
            o = self.memory.orders[intent_id]
            now = self.now_ms()
            if o.custodian_accepted_at is None:
                raise conflict(
                    "the quote request is not open: the sender custodian has not accepted the proposal"
                )
            if not o.rfq_open or o.expires_at <= now:
                raise conflict(f"the quote request is closed: order is {o.status}")
            if valid_until <= now:
                raise v.invalid("valid_until", "must be in the future")
            q = Quote(
                quote_id=new_id(),
                intent_id=intent_id,
                market_maker_party_id=mm_party,
                fx_rate=fx_rate,
                target_amount=o.target_amount,
                source_amount=source_amount(o.target_amount, fx_rate),
                valid_until=valid_until,
                status="PENDING",
                created_at=now,
                updated_at=now,
            )
            ch = Changes()
            ch.quote(q, new=True)
            body = orjson.dumps(q.to_json(now, sender_side=True))
            received: list[Ev] = [
                (p, "quote_received", body, intent_id) for p in dict.fromkeys(o.sender_side)
            ]
            ch.events.extend(received)
            ch.quote_mm_event(q, now)
            await self.store.commit(ch)
            return q

    async def simulate(self, intent_id: str) -> None:
        """Timer job: every simulated maker that has not quoted on the RFQ quotes now."""
        m = self.memory
        o = m.orders.get(intent_id)
        if o is None or not o.rfq_open:
            return
        if not m.network_available:
            m.waiting_quotes.add(intent_id)  # the makers quote once the network is back
            return
        now = self.now_ms()
        quoted = {q.market_maker_party_id for q in m.quotes_of(intent_id)}
        for p in list(m.participants.values()):
            if p.role != "market-maker" or not p.simulated or p.party_id in quoted:
                continue
            with contextlib.suppress(Conflict):
                await self._add(
                    p.party_id, intent_id, sim_rate(o, p.name), min(now + SIM_QUOTE_VALIDITY_MS, o.expires_at)
                )
