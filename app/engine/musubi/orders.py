"""Musubi orders (CONTRACT §2.4): the proposal, its acceptance or rejection, cancellation, and a
quote's selection and co-signature by the sender side.

Every change follows one pattern: under the order's lock, check against memory, stage a
`Changes`, `store.commit` it (memory follows the commit), then arm the timers that follow.
A refused call stages nothing, so it changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import orjson

from app.clock import iso_ms
from app.config import Settings
from app.engine.errors import UpstreamUnavailable
from app.engine.musubi import validate as v
from app.engine.musubi.model import (
    Changes,
    Memory,
    Order,
    Participant,
    conflict,
    forbidden,
    new_id,
    not_found,
)
from app.engine.musubi.store import Store

# schedule(due_ms, job, intent_id): arm one of the timers' jobs ("expiry", "lapse", …)
Schedule = Callable[[int, str, str], None]


def require_network(memory: Memory) -> None:
    if not memory.network_available:
        raise UpstreamUnavailable(
            "settlement network unavailable: the Canton participant node did not answer", code="CANTON_ERROR"
        )


def order_for(memory: Memory, caller: Participant, intent_id: str) -> Order:
    """The order if `caller` is party to it; 404 otherwise (never revealing it exists)."""
    o = memory.orders.get(intent_id)
    if o is None or caller.party_id not in o.parties:
        raise not_found(f"order {intent_id} not found")
    return o


def stage_end(
    ch: Changes,
    memory: Memory,
    o: Order,
    now: int,
    status: str,
    reason: str,
    actor: str,
    action: str,
    quote_status: str,
) -> Order:
    """Stage `o`'s move to a terminal status; its open quotes become `quote_status`."""
    n = replace(o, status=status, failure_reason=reason, updated_at=now)
    ch.order(n)
    ch.transition(n, now, actor, action, o.status, {"failure_reason": reason})
    ch.order_events(n)
    for q in memory.quotes_of(o.intent_id):
        if q.status in ("PENDING", "ACCEPTED") and q.status != quote_status:
            nq = replace(q, status=quote_status, updated_at=now)
            ch.quote(nq)
            ch.quote_mm_event(nq, now)
    return n


class Orders:
    def __init__(
        self,
        memory: Memory,
        store: Store,
        settings: Settings,
        now_ms: Callable[[], int],
        schedule: Schedule,
    ) -> None:
        self.memory = memory
        self.store = store
        self.settings = settings
        self.now_ms = now_ms
        self.schedule = schedule

    async def create(self, caller: Participant, body: object, idem_key: str | None) -> bytes:
        """Create an order → its JSON bytes (the same bytes again for a repeated Idempotency-Key)."""
        m = self.memory
        key = None if v.idempotency_key(idem_key) is None else (caller.party_id, str(idem_key))
        if key is not None:
            done = m.idempotency.get(key)
            if done is not None:
                return done
            pending = m.idem_pending.get(key)
            if pending is not None:
                return await asyncio.shield(pending)
        fields = v.order_fields(body, m.participants)
        now = self.now_ms()
        o = Order(
            intent_id=new_id(),
            status="PENDING",
            sender_party_id=caller.party_id,
            created_at=now,
            updated_at=now,
            expires_at=now + self.settings.musubi_order_ttl_ms,
            **fields,
        )
        ch = Changes()
        ch.order(o, new=True)
        ch.transition(o, now, caller.party_id, "CREATED", None)
        data = ch.order_events(o)
        fut: asyncio.Future[bytes] | None = None
        if key is not None:
            ch.idempotency.append((key[0], key[1], o.intent_id, data, now))
            fut = m.idem_pending[key] = asyncio.get_running_loop().create_future()
        try:
            await self.store.commit(ch)
        except BaseException as exc:
            if key is not None and fut is not None:
                del m.idem_pending[key]
                fut.set_exception(exc)
                fut.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        if key is not None and fut is not None:
            del m.idem_pending[key]
            fut.set_result(data)
        self.schedule(o.expires_at, "expiry", o.intent_id)
        return data

    def _custodians_proposal(self, caller: Participant, intent_id: str, verb: str) -> None:
        """Only the sender custodian decides on a proposal (403), and only once (409 under the lock)."""
        if caller.party_id != order_for(self.memory, caller, intent_id).sender_custodian_party_id:
            raise forbidden(f"only the sender custodian may {verb} the proposal")

    def _undecided(self, intent_id: str, verb: str) -> Order:
        o = self.memory.orders[intent_id]
        if o.status != "PENDING" or o.custodian_accepted_at is not None:
            raise conflict(
                f"the proposal cannot be {verb}ed: order is {o.status}"
                + (", already accepted" if o.custodian_accepted_at is not None else "")
            )
        return o

    async def accept_proposal(self, caller: Participant, intent_id: str) -> Order:
        self._custodians_proposal(caller, intent_id, "accept")
        async with self.memory.lock(intent_id):
            o = self._undecided(intent_id, "accept")
            now = self.now_ms()
            n = replace(o, custodian_accepted_at=now, updated_at=now)
            ch = Changes()
            ch.order(n)
            ch.transition(n, now, caller.party_id, "PROPOSAL_ACCEPTED", o.status)
            ch.order_events(n)
            rfq = orjson.dumps(n.rfq_json())
            ch.events.extend(
                (mm, "quote_request_created", rfq, intent_id) for mm in self.memory.market_makers()
            )
            await self.store.commit(ch)
        if self.settings.auto_quote:
            self.schedule(now + self.settings.musubi_quote_delay_ms, "sim_quote", intent_id)
        return n

    async def reject_proposal(self, caller: Participant, intent_id: str) -> Order:
        self._custodians_proposal(caller, intent_id, "reject")
        async with self.memory.lock(intent_id):
            o = self._undecided(intent_id, "reject")
            return await self._end(o, "FAILED", "KYC_FAIL", caller.party_id, "PROPOSAL_REJECTED", "REJECTED")

    async def cancel(self, caller: Participant, intent_id: str) -> Order:
        o = order_for(self.memory, caller, intent_id)
        if caller.party_id != o.sender_party_id:
            raise forbidden("only the sender institution may cancel the order")
        async with self.memory.lock(intent_id):
            o = self.memory.orders[intent_id]
            if o.status not in ("PENDING", "QUOTED"):
                raise conflict(f"only PENDING or QUOTED orders can be cancelled: order is {o.status}")
            return await self._end(o, "FAILED", "CANCELLED", caller.party_id, "CANCELLED", "REJECTED")

    async def _end(
        self, o: Order, status: str, reason: str, actor: str, action: str, quote_status: str
    ) -> Order:
        ch = Changes()
        n = stage_end(ch, self.memory, o, self.now_ms(), status, reason, actor, action, quote_status)
        await self.store.commit(ch)
        self.memory.waiting_network.discard(o.intent_id)
        return n

    async def accept_quote(self, caller: Participant, intent_id: str, quote_id: str) -> Order:
        """The sender institution selects a quote; the sender custodian selects and/or co-signs it."""
        o = order_for(self.memory, caller, intent_id)
        if caller.party_id not in o.sender_side:
            raise forbidden("only the sender institution or the sender custodian may accept a quote")
        cosign = caller.party_id == o.sender_custodian_party_id
        async with self.memory.lock(intent_id):
            o = self.memory.orders[intent_id]
            q = self.memory.quotes.get(quote_id)
            if q is None or q.intent_id != intent_id:
                raise not_found(f"quote {quote_id} not found on order {intent_id}")
            if o.status not in ("PENDING", "QUOTED"):
                raise conflict(f"the order has moved on: it is {o.status}")
            now = self.now_ms()
            if o.status == "PENDING" and o.expires_at <= now:
                raise conflict("the order has expired")
            if o.selected_quote_id is not None and o.selected_quote_id != quote_id:
                raise conflict(
                    "another quote is already selected",
                    [{"field": "quote_id", "reason": f"quote {o.selected_quote_id} is selected"}],
                )
            if o.selected_quote_id == quote_id and (not cosign or o.quote_accepted_at is not None):
                raise conflict("the quote is already " + ("co-signed" if o.quote_accepted_at else "selected"))
            if q.valid_until <= now or q.status == "EXPIRED":
                raise conflict(
                    "the quote has expired",
                    [{"field": "valid_until", "reason": f"quote expired at {iso_ms(q.valid_until)}"}],
                )
            if Decimal(q.source_amount) > Decimal(o.source_amount_max):
                raise conflict(
                    "the quote breaks source_amount_max",
                    [{"field": "source_amount", "reason": "SLIPPAGE: exceeds source_amount_max"}],
                )
            ch = Changes()
            n = o
            selecting = o.selected_quote_id is None
            if selecting:
                n = replace(
                    o,
                    status="QUOTED",
                    fx_rate=q.fx_rate,
                    source_amount_actual=q.source_amount,
                    market_maker_party_id=q.market_maker_party_id,
                    selected_quote_id=q.quote_id,
                    updated_at=now,
                )
                ch.transition(n, now, caller.party_id, "QUOTE_SELECTED", o.status, {"quote_id": quote_id})
                for other in self.memory.quotes_of(intent_id):
                    if other.quote_id == quote_id:
                        nq = replace(other, status="ACCEPTED", updated_at=now)
                    elif other.status == "PENDING":
                        nq = replace(other, status="REJECTED", updated_at=now)
                    else:
                        continue
                    ch.quote(nq)
                    ch.quote_mm_event(nq, now)
            if cosign:
                before = n.status
                n = replace(n, quote_accepted_at=now, updated_at=now)
                ch.transition(n, now, caller.party_id, "QUOTE_COSIGNED", before, {"quote_id": quote_id})
            ch.order(n)
            ch.order_events(n)
            await self.store.commit(ch)
        if selecting:
            self.schedule(q.valid_until, "lapse", intent_id)
        if cosign:
            self.schedule(now + self.settings.musubi_execute_delay_ms, "execute", intent_id)
        return n
