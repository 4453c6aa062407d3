"""Orders, the per-market limit order book, and the balance ledger. Pure Python, no I/O.

Invariants (asserted by `Book.check` and the tests):
- a resting order is in exactly one level of its side, and every level is non-empty;
- bid prices < ask prices (the resting book is never crossed);
- a resting Bid reserves `price × leavesQty` of the quote asset, an Ask `leavesQty` of the base.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

OPEN = frozenset({"NEW", "PARTIALLY_FILLED", "REPLACED"})
PENDING = "PENDING"  # admitted, not yet processed by its shard's engine worker
TERMINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})


@dataclass(slots=True, eq=False)
class Order:
    order_id: str
    order_no: int
    account: str
    client_order_id: str | None
    market: int
    side: str  # "Bid" | "Ask"
    price: int
    qty: int
    leaves_qty: int
    cum_qty: int
    status: str
    tif: str  # gtc | ioc | fok | post_only
    created_ms: int
    priority: int  # time priority: lower rests ahead
    base: str
    quote: str
    persisted: bool = False  # has a row in oe_orders (an order born and finished between commits never does)

    @property
    def reserved(self) -> int:
        """What this order holds: quote for a Bid (price × leaves), base for an Ask (leaves)."""
        return self.price * self.leaves_qty if self.side == "Bid" else self.leaves_qty

    @property
    def reserve_asset(self) -> str:
        return self.quote if self.side == "Bid" else self.base

    def to_json(self) -> dict[str, object]:
        return {
            "orderId": self.order_id,
            "clientOrderId": self.client_order_id,
            "market": self.market,
            "side": self.side,
            "price": self.price,
            "qty": self.qty,
            "leavesQty": self.leaves_qty,
            "cumQty": self.cum_qty,
            "status": self.status,
            "timeInForce": self.tif,
            "createdTsMs": self.created_ms,
        }


class Side:
    """One side of a book: price levels (FIFO queues) and their sorted prices."""

    __slots__ = ("is_bid", "levels", "prices")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, deque[Order]] = {}
        self.prices: list[int] = []  # ascending

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def add(self, order: Order) -> None:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = deque()
            bisect.insort(self.prices, order.price)
        level.append(order)

    def remove(self, order: Order) -> None:
        level = self.levels[order.price]
        level.remove(order)
        if not level:
            del self.levels[order.price]
            i = bisect.bisect_left(self.prices, order.price)
            del self.prices[i]

    def crossing(self, limit: int) -> list[int]:
        """Prices of this side that a taker with `limit` on the other side would reach, best first."""
        if self.is_bid:  # a taker Ask sells to bids >= limit, highest first
            i = bisect.bisect_left(self.prices, limit)
            return self.prices[i:][::-1]
        i = bisect.bisect_right(self.prices, limit)  # a taker Bid buys asks <= limit
        return self.prices[:i]

    def orders(self) -> list[Order]:
        return [o for p in self.prices for o in self.levels[p]]


class Book:
    __slots__ = ("asks", "bids", "market")

    def __init__(self, market: int) -> None:
        self.market = market
        self.bids = Side(True)
        self.asks = Side(False)

    def side(self, side: str) -> Side:
        return self.bids if side == "Bid" else self.asks

    def opposite(self, side: str) -> Side:
        return self.asks if side == "Bid" else self.bids

    def check(self) -> None:
        """Assert the book's invariants (tests and debugging)."""
        bb, ba = self.bids.best(), self.asks.best()
        assert bb is None or ba is None or bb < ba, f"crossed book {self.market}: {bb} >= {ba}"
        for s in (self.bids, self.asks):
            assert s.prices == sorted(s.levels), "price index out of order"
            for p, level in s.levels.items():
                assert level, "empty level"
                for o in level:
                    assert o.price == p and o.leaves_qty > 0 and o.status in OPEN, o


class Ledger:
    """Balances per account and asset: [free, reserved]. Changed keys are collected in `dirty`."""

    __slots__ = ("balances", "dirty")

    def __init__(self) -> None:
        self.balances: dict[str, dict[str, list[int]]] = {}
        self.dirty: set[tuple[str, str]] = set()

    def get(self, account: str, asset: str) -> list[int]:
        acct = self.balances.get(account)
        if acct is None:
            acct = self.balances[account] = {}
        bal = acct.get(asset)
        if bal is None:
            bal = acct[asset] = [0, 0]
        return bal

    def free(self, account: str, asset: str) -> int:
        acct = self.balances.get(account)
        if not acct or asset not in acct:
            return 0
        return acct[asset][0]

    def credit(self, account: str, asset: str, amount: int) -> None:
        bal = self.get(account, asset)
        bal[0] += amount
        self.dirty.add((account, asset))

    def reserve(self, account: str, asset: str, amount: int) -> bool:
        bal = self.get(account, asset)
        if bal[0] < amount:
            return False
        bal[0] -= amount
        bal[1] += amount
        self.dirty.add((account, asset))
        return True

    def release(self, account: str, asset: str, amount: int) -> None:
        bal = self.get(account, asset)
        bal[1] -= amount
        bal[0] += amount
        self.dirty.add((account, asset))

    def spend_reserved(self, account: str, asset: str, amount: int) -> None:
        bal = self.get(account, asset)
        bal[1] -= amount
        self.dirty.add((account, asset))
