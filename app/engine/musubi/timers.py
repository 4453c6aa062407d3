"""Musubi's timers on the domain clock (CONTRACT §2.4 step 5-7): a PENDING order's expiry, a
selected quote's lapse, the start of settlement after co-sign, settlement itself, and the
simulated makers' quoting delay — and their re-arming after a restart.

Timers are not persisted: `rearm` derives them from the orders. Each job re-checks the order
under its lock, so a job that fires late, twice, or after the order moved on does nothing.

Work due at one instant runs concurrently (each order under its own lock), so the writes of
many orders falling due together share one group commit. A burst is started in slices with a
yield to the event loop between them, so a clock advance over thousands of timers never holds
the loop for long.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal

from app.clock import DomainClock, Timer
from app.config import Settings
from app.engine.musubi.model import OPERATOR_PARTY_ID, Changes, Memory, Order, new_tx_hash
from app.engine.musubi.orders import stage_end
from app.engine.musubi.quotes import Quotes
from app.engine.musubi.store import Store

log = logging.getLogger("refserver.musubi")

Job = Callable[[str], Awaitable[None]]
BURST_SLICE = 64  # jobs started per turn of the event loop


class Timers:
    def __init__(
        self, memory: Memory, store: Store, settings: Settings, clock: DomainClock, quotes: Quotes
    ) -> None:
        self.memory = memory
        self.store = store
        self.settings = settings
        self.clock = clock
        self.jobs: dict[str, Job] = {
            "expiry": self.expiry,
            "lapse": self.lapse,
            "execute": self.execute,
            "settle": self.settle,
            "sim_quote": quotes.simulate,
        }
        # due work: a heap of (due_ms, seq, job, intent_id), and one clock timer per distinct due ms
        self._due: list[tuple[int, int, str, str]] = []
        self._armed: set[tuple[int, str, str]] = set()  # what is in `_due`: arming twice is once
        self._seq = itertools.count()
        self._timers: dict[int, Timer] = {}

    # --- scheduling ----------------------------------------------------------------------------
    def at(self, due_ms: int, job: str, intent_id: str) -> None:
        """Run `job` for `intent_id` when the domain clock reaches `due_ms`."""
        if (due_ms, job, intent_id) in self._armed:
            return
        self._armed.add((due_ms, job, intent_id))
        heapq.heappush(self._due, (due_ms, next(self._seq), job, intent_id))
        if due_ms not in self._timers:

            async def fire() -> None:
                await self._drain(due_ms)

            self._timers[due_ms] = self.clock.call_at(due_ms, fire, name=f"musubi@{due_ms}")

    async def _drain(self, due_ms: int) -> None:
        self._timers.pop(due_ms, None)
        now = self.clock.now_ms()
        tasks: list[asyncio.Task[None]] = []
        while self._due and self._due[0][0] <= now:
            due, _seq, job, intent_id = heapq.heappop(self._due)
            self._armed.discard((due, job, intent_id))
            tasks.append(asyncio.ensure_future(self.jobs[job](intent_id)))
            if len(tasks) % BURST_SLICE == 0:
                await asyncio.sleep(0)  # let the started slice run its synchronous part, and I/O in
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("musubi timer failed", exc_info=result)

    def rearm(self) -> None:
        """Derive every timer from the orders (after a start, and after a failed commit whose
        follow-up timer was never armed); timers already armed are not armed twice."""
        s = self.settings
        for o in self.memory.orders.values():
            if o.status == "PENDING":
                self.at(o.expires_at, "expiry", o.intent_id)
                if o.custodian_accepted_at is not None and s.auto_quote:
                    self.at(o.custodian_accepted_at + s.musubi_quote_delay_ms, "sim_quote", o.intent_id)
            elif o.status == "QUOTED":
                q = self.memory.quotes.get(o.selected_quote_id or "")
                if q is not None:
                    self.at(q.valid_until, "lapse", o.intent_id)
                if o.quote_accepted_at is not None:
                    self.at(o.quote_accepted_at + s.musubi_execute_delay_ms, "execute", o.intent_id)
            elif o.status == "EXECUTING":
                self.at((o.executing_at or o.updated_at) + s.musubi_settle_delay_ms, "settle", o.intent_id)

    def stop(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        self._due.clear()
        self._armed.clear()

    def set_network(self, available: bool) -> None:
        """Control API: the settlement network up or down; what waited for it resumes now."""
        m = self.memory
        m.network_available = available
        if available:
            now = self.clock.now_ms()
            waiting, m.waiting_network = m.waiting_network, set()
            for intent_id in waiting:
                self.at(now, "execute", intent_id)
            quoting, m.waiting_quotes = m.waiting_quotes, set()
            for intent_id in quoting:
                self.at(now, "sim_quote", intent_id)

    # --- the jobs ----------------------------------------------------------------------------
    async def _end(self, o: Order, status: str, reason: str, action: str, quote_status: str) -> None:
        ch = Changes()
        stage_end(
            ch, self.memory, o, self.clock.now_ms(), status, reason, OPERATOR_PARTY_ID, action, quote_status
        )
        await self.store.commit(ch)
        self.memory.waiting_network.discard(o.intent_id)

    async def expiry(self, intent_id: str) -> None:
        """A PENDING order past `expires_at` → EXPIRED (NO_QUOTE, SLIPPAGE or TIMEOUT)."""
        async with self.memory.lock(intent_id):
            o = self.memory.orders.get(intent_id)
            if o is None or o.status != "PENDING" or self.clock.now_ms() < o.expires_at:
                return
            quotes = self.memory.quotes_of(intent_id)
            if not quotes:
                reason = "NO_QUOTE"
            elif all(Decimal(q.source_amount) > Decimal(o.source_amount_max) for q in quotes):
                reason = "SLIPPAGE"
            else:
                reason = "TIMEOUT"
            await self._end(o, "EXPIRED", reason, "EXPIRED", "EXPIRED")

    async def lapse(self, intent_id: str) -> None:
        """A QUOTED order whose selected quote's `valid_until` passes before co-sign → EXPIRED."""
        async with self.memory.lock(intent_id):
            o = self.memory.orders.get(intent_id)
            if o is None or o.status != "QUOTED":
                return
            q = self.memory.quotes.get(o.selected_quote_id or "")
            if q is None or q.valid_until > self.clock.now_ms():
                return
            await self._end(o, "EXPIRED", "TIMEOUT", "QUOTE_LAPSED", "EXPIRED")

    async def execute(self, intent_id: str) -> None:
        """A co-signed QUOTED order → EXECUTING (waits while the network is down)."""
        async with self.memory.lock(intent_id):
            o = self.memory.orders.get(intent_id)
            if o is None or o.status != "QUOTED" or o.quote_accepted_at is None:
                return
            if not self.memory.network_available:
                self.memory.waiting_network.add(intent_id)  # waits for the network (and may lapse)
                return
            now = self.clock.now_ms()
            n = replace(o, status="EXECUTING", executing_at=now, updated_at=now)
            ch = Changes()
            ch.order(n)
            ch.transition(n, now, OPERATOR_PARTY_ID, "SETTLEMENT_STARTED", o.status)
            ch.order_events(n)
            await self.store.commit(ch)
        self.at(now + self.settings.musubi_settle_delay_ms, "settle", intent_id)

    async def settle(self, intent_id: str) -> None:
        """EXECUTING → SETTLED with one transaction hash, or FAILED (REVERT) if the network is down."""
        async with self.memory.lock(intent_id):
            o = self.memory.orders.get(intent_id)
            if o is None or o.status != "EXECUTING":
                return
            if not self.memory.network_available:
                await self._end(o, "FAILED", "REVERT", "SETTLEMENT_REVERTED", "ACCEPTED")
                return
            now = self.clock.now_ms()
            tx = new_tx_hash()
            n = replace(o, status="SETTLED", transaction_hash=tx, settled_at=now, updated_at=now)
            ch = Changes()
            ch.order(n)
            ch.transition(n, now, OPERATOR_PARTY_ID, "SETTLED", o.status, {"transaction_hash": tx})
            ch.order_events(n)
            await self.store.commit(ch)
