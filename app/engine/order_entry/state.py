"""The venue's in-memory state shared by admission and the shard engines, and the writes
waiting to be committed. Pure Python, no I/O.

Everything here is mutated on the event loop only, in synchronous steps; whoever mutates it
calls the service's `flush()` before its next `await`, so the pending writes (events, changed
orders, balances, nonce floors) reach the database in exactly the order they happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.engine.order_entry.book import OPEN, PENDING, Ledger, Order


def exec_body(
    *,
    status: str,
    market: int | None,
    shard: int | None,
    engine_ts: int,
    order: Order | None = None,
    order_id: str | None = None,
    client_order_id: str | None = None,
    filled_qty: int = 0,
    fill_id: str | None = None,
    fill_price: int | None = None,
    reject_code: str | None = None,
    zero_qty: bool = False,
) -> dict[str, Any]:
    """The §4.4 fields of one execution event (seq, prevSeq, serverTsMs are added on commit),
    plus the order's `side`, `price`, `qty` [ours]. `account` is the stream it goes to."""
    if order is not None:
        return {
            "clientOrderId": order.client_order_id,
            "orderId": order.order_id,
            "status": status,
            "filledQty": filled_qty,
            "cumQty": 0 if zero_qty else order.cum_qty,
            "leavesQty": 0 if zero_qty else order.leaves_qty,
            "fillId": fill_id,
            "fillPrice": fill_price,
            "rejectCode": reject_code,
            "market": market,
            "shard": shard,
            "engineTsMs": engine_ts,
            "side": order.side,
            "price": order.price,
            "qty": order.qty,
        }
    return {
        "clientOrderId": client_order_id,
        "orderId": order_id,
        "status": status,
        "filledQty": 0,
        "cumQty": 0,
        "leavesQty": 0,
        "fillId": None,
        "fillPrice": None,
        "rejectCode": reject_code,
        "market": market,
        "shard": shard,
        "engineTsMs": engine_ts,
        "side": None,
        "price": None,
        "qty": None,
    }


@dataclass
class Pending:
    """Writes not yet handed to the database, in the order they happened."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    floors: set[str] = field(default_factory=set)
    idempotency: list[tuple[str, str, bytes, int]] = field(default_factory=list)
    counters: bool = False

    def __bool__(self) -> bool:
        return bool(self.events or self.orders or self.floors or self.idempotency or self.counters)


class VenueState:
    """Balances, nonce floors, the open-order index per account, id counters, pending writes."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.nonce_floor: dict[str, int] = {}
        # open (or pending) orders by account, and their clientOrderIds
        self.open_by_account: dict[str, dict[str, Order]] = {}
        self.coid_by_account: dict[str, dict[str, Order]] = {}
        self.next_order_no = 1
        self.next_fill_no = 1
        self.pending = Pending()

    # --- ids -------------------------------------------------------------------------------
    def new_order_no(self) -> int:
        n = self.next_order_no
        self.next_order_no = n + 1
        self.pending.counters = True
        return n

    def new_fill_id(self) -> str:
        n = self.next_fill_no
        self.next_fill_no = n + 1
        self.pending.counters = True
        return f"f-{n}"

    # --- writes ----------------------------------------------------------------------------
    def emit(self, account: str, body: dict[str, Any]) -> None:
        self.pending.events.append((account, body))

    def touch(self, order: Order) -> None:
        self.pending.orders[order.order_id] = order

    def take(self) -> Pending:
        p = self.pending
        self.pending = Pending()
        return p

    # --- the open-order index --------------------------------------------------------------
    def track(self, order: Order) -> None:
        self.open_by_account.setdefault(order.account, {})[order.order_id] = order
        if order.client_order_id is not None:
            self.coid_by_account.setdefault(order.account, {})[order.client_order_id] = order

    def untrack(self, order: Order) -> None:
        by = self.open_by_account.get(order.account)
        if by is not None:
            by.pop(order.order_id, None)
        if order.client_order_id is not None:
            co = self.coid_by_account.get(order.account)
            if co is not None and co.get(order.client_order_id) is order:
                del co[order.client_order_id]

    def find(self, account: str, order_id: str | None, client_order_id: str | None) -> Order | None:
        if order_id is not None:
            o = self.open_by_account.get(account, {}).get(order_id)
        elif client_order_id is not None:
            o = self.coid_by_account.get(account, {}).get(client_order_id)
        else:
            o = None
        if o is None or (o.status not in OPEN and o.status != PENDING):
            return None
        return o
