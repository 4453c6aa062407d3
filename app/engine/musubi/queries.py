"""Musubi reads (CONTRACT §2.3): order and RFQ lists, quotes, settlements, dashboard stats, the
compliance record and the settlements export. All from memory except the transition record."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, localcontext
from typing import Any

import orjson

from app.clock import iso_ms
from app.engine.musubi import validate as v
from app.engine.musubi.model import (
    EXACT,
    EXPORT_COLUMNS,
    OPERATOR_PARTY_ID,
    QUOTE_STATUSES,
    STATUSES,
    Memory,
    Order,
    Participant,
    dec_str,
    forbidden,
    not_found,
)
from app.engine.musubi.orders import order_for
from app.engine.musubi.store import Store


def _filter_orders(orders: Iterable[Order], q: v.ListQuery, *, statuses: bool = True) -> list[Order]:
    out = []
    for o in orders:
        if statuses and q.statuses is not None and o.status not in q.statuses:
            continue
        if q.source_currency is not None and o.source_currency != q.source_currency:
            continue
        if q.target_currency is not None and o.target_currency != q.target_currency:
            continue
        if q.created_after is not None and o.created_at < q.created_after:
            continue
        if q.created_before is not None and o.created_at > q.created_before:
            continue
        if q.updated_after is not None and o.updated_at < q.updated_after:
            continue
        out.append(o)
    return out


def _sort_key(sort_by: str) -> Callable[[Order], Any]:
    if sort_by == "target_amount":
        return lambda o: (Decimal(o.target_amount), o.created_at, o.intent_id)
    if sort_by == "status":
        return lambda o: (o.status, o.created_at, o.intent_id)
    if sort_by == "settled_at":
        # orders never settled sort after every settled one (asc) / before them (desc)
        return lambda o: (o.settled_at is None, o.settled_at or 0, o.created_at, o.intent_id)
    return lambda o: (o.created_at, o.intent_id)


def _page(orders: list[Order], q: v.ListQuery) -> tuple[list[Order], int]:
    orders.sort(key=_sort_key(q.sort_by), reverse=q.sort_order == "desc")
    start = (q.page - 1) * q.page_size
    return orders[start : start + q.page_size], len(orders)


def export_csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in EXPORT_COLUMNS})
    return buf.getvalue().encode()


class Queries:
    def __init__(self, memory: Memory, store: Store, now_ms: Callable[[], int]) -> None:
        self.memory = memory
        self.store = store
        self.now_ms = now_ms

    # --- institutions and custodians -------------------------------------------------------------
    def order_for(self, caller: Participant, intent_id: str) -> Order:
        return order_for(self.memory, caller, intent_id)

    def list_orders(self, caller: Participant, q: v.ListQuery) -> tuple[list[Order], int]:
        orders = self.memory.orders
        return _page(
            _filter_orders((orders[i] for i in self.memory.orders_by_party.get(caller.party_id, ())), q), q
        )

    def quotes_for(self, caller: Participant, intent_id: str) -> list[dict[str, Any]]:
        o = self.order_for(caller, intent_id)
        if caller.party_id not in o.sender_side:
            raise forbidden("only the sender institution and sender custodian see the quotes")
        now = self.now_ms()
        quotes = self.memory.quotes_of(intent_id)
        quotes.sort(key=lambda q: (Decimal(q.source_amount), q.created_at, q.quote_id))  # best first
        return [q.to_json(now, sender_side=True) for q in quotes]

    def stats(self, caller: Participant) -> dict[str, Any]:
        m = self.memory
        if caller.role == "market-maker":
            orders = [m.orders[i] for i in m.won_by_mm.get(caller.party_id, ())]
        else:
            orders = [m.orders[i] for i in m.orders_by_party.get(caller.party_id, ())]
        counts = dict.fromkeys(STATUSES, 0)
        volume = {"JPYSC0": Decimal(0), "USDCx": Decimal(0)}
        with localcontext(EXACT):  # sums of amounts up to 10^40 stay exact
            for o in orders:
                counts[o.status] += 1
                if o.status == "SETTLED":
                    volume[o.target_currency] += Decimal(o.target_amount)
                    if o.source_amount_actual is not None:
                        volume[o.source_currency] += Decimal(o.source_amount_actual)
        out: dict[str, Any] = {
            "total_orders": len(orders),
            "counts_by_status": counts,
            "settled_volume": {k: dec_str(d) for k, d in volume.items()},
        }
        if caller.role == "market-maker":
            now = self.now_ms()
            qcounts = dict.fromkeys(QUOTE_STATUSES, 0)
            mine = m.quotes_by_mm.get(caller.party_id, ())
            for qid in mine:
                qcounts[m.quotes[qid].shown_status(now)] += 1
            out["quotes_submitted"] = len(mine)
            out["quotes_by_status"] = qcounts
            won = len(m.won_by_mm.get(caller.party_id, ()))
            out["win_rate"] = dec_str((Decimal(won) / len(mine)).quantize(Decimal("0.0001"))) if mine else "0"
            out["open_quote_requests"] = sum(1 for _ in self._open_rfqs())
        return out

    async def compliance(self, caller: Participant, intent_id: str) -> dict[str, Any]:
        o = self.order_for(caller, intent_id)
        rows = await self.store.transitions(intent_id)
        transitions = [
            {
                "at": iso_ms(int(r[0])),
                "actor": r[1],
                "action": r[2],
                "from_status": r[3],
                "to_status": r[4],
                "detail": None if r[5] is None else orjson.loads(r[5]),
            }
            for r in rows
        ]
        now = self.now_ms()
        quotes = [q.to_json(now, sender_side=True) for q in self.memory.quotes_of(intent_id)]
        if caller.party_id not in o.sender_side:
            quotes = [q for q in quotes if q["quote_id"] == o.selected_quote_id]
        return {
            "order": o.to_json(),
            "transitions": transitions,
            "quotes": quotes,
            "operator_party_id": OPERATOR_PARTY_ID,
        }

    def export(self, caller: Participant, params: Mapping[str, str]) -> tuple[str, list[dict[str, Any]]]:
        fmt, lo, hi, statuses = v.export_query(params)
        rows = []
        for i in self.memory.orders_by_party.get(caller.party_id, ()):
            o = self.memory.orders[i]
            if o.status not in statuses:
                continue
            at = o.settled_at if o.settled_at is not None else o.updated_at
            if (lo is not None and at < lo) or (hi is not None and at > hi):
                continue
            rows.append((at, o.intent_id, o.export_row()))
        rows.sort(key=lambda r: (r[0], r[1]))
        return fmt, [r[2] for r in rows]

    # --- market makers --------------------------------------------------------------------------
    def _open_rfqs(self) -> Iterable[Order]:
        now = self.now_ms()
        return (o for o in self.memory.orders.values() if o.rfq_open and o.expires_at > now)

    def rfq_for(self, mm: Participant, intent_id: str) -> Order:
        """An RFQ the market maker may see: open, or one it has quoted on."""
        m = self.memory
        o = m.orders.get(intent_id)
        if o is None or o.custodian_accepted_at is None:
            raise not_found(f"quote request {intent_id} not found")
        if o.rfq_open and o.expires_at > self.now_ms():
            return o
        if any(m.quotes[qid].intent_id == intent_id for qid in m.quotes_by_mm.get(mm.party_id, ())):
            return o
        raise not_found(f"quote request {intent_id} not found")

    def list_rfqs(self, q: v.ListQuery) -> tuple[list[Order], int]:
        return _page(_filter_orders(self._open_rfqs(), q, statuses=False), q)

    def mm_quotes(
        self, mm: Participant, q: v.ListQuery, intent_id: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        now = self.now_ms()
        items = []
        for qid in self.memory.quotes_by_mm.get(mm.party_id, ()):
            quote = self.memory.quotes[qid]
            if intent_id is not None and quote.intent_id != intent_id:
                continue
            if q.statuses is not None and quote.shown_status(now) not in q.statuses:
                continue
            if q.created_after is not None and quote.created_at < q.created_after:
                continue
            if q.created_before is not None and quote.created_at > q.created_before:
                continue
            items.append(quote)
        items.sort(key=lambda x: (x.created_at, x.quote_id), reverse=q.sort_order == "desc")
        start = (q.page - 1) * q.page_size
        return [x.to_json(now, sender_side=False) for x in items[start : start + q.page_size]], len(items)

    def settlements(self, mm: Participant, q: v.ListQuery) -> tuple[list[Order], int]:
        ids = self.memory.won_by_mm.get(mm.party_id, ())
        return _page(_filter_orders((self.memory.orders[i] for i in ids), q), q)

    def settlement(self, mm: Participant, intent_id: str) -> Order:
        o = self.memory.orders.get(intent_id)
        if o is None or o.market_maker_party_id != mm.party_id:
            raise not_found(f"settlement {intent_id} not found")
        return o
