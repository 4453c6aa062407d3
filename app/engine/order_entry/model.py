"""The venue's domain objects: orders, the per-market book, one `AccountState` per account
(balances, payload nonce floor, idempotency cache and what changed since the last commit), the
venue state the admission and the shard engines share, agents, and the execution event body.
Pure Python, no I/O.

Invariants (asserted by `Book.check` and the tests):
- a resting order is in exactly one level of its side, and every level is non-empty;
- bid prices < ask prices (the resting book is never crossed);
- a resting Bid reserves `price × leavesQty` of the quote asset, an Ask `leavesQty` of the base.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.engine.order_entry.auth import SecretBox

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


class AccountState:
    """Everything the venue keeps for one account, in one place: balances per asset
    `[free, reserved]`, the payload nonce floor, the idempotency cache, and the dirty marks
    (what changed since the last commit) that the next unit of work writes."""

    __slots__ = (
        "account",
        "balances",
        "dirty_assets",
        "floor_dirty",
        "idempotency",
        "new_idempotency",
        "nonce_floor",
    )

    IDEMPOTENCY_MEMORY = 10_000  # per account; older answers are found in the table

    def __init__(self, account: str, nonce_floor: int = 0) -> None:
        self.account = account
        self.balances: dict[str, list[int]] = {}
        self.nonce_floor = nonce_floor
        self.idempotency: dict[str, bytes] = {}
        self.dirty_assets: set[str] = set()
        self.floor_dirty = False
        self.new_idempotency: list[tuple[str, bytes, int]] = []

    def balance(self, asset: str) -> list[int]:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = [0, 0]
        return bal

    def free(self, asset: str) -> int:
        bal = self.balances.get(asset)
        return 0 if bal is None else bal[0]

    def remember(self, key: str, response: bytes, now: int | None) -> None:
        """Cache an idempotent answer; `now` given: it is new and must be written."""
        self.idempotency[key] = response
        if now is not None:
            self.new_idempotency.append((key, response, now))
        if len(self.idempotency) > self.IDEMPOTENCY_MEMORY:
            for k in list(self.idempotency)[: self.IDEMPOTENCY_MEMORY // 2]:
                del self.idempotency[k]

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_assets or self.floor_dirty or self.new_idempotency)


class Ledger:
    """Balance moves over the accounts' states (the balances live in `AccountState`); every
    move marks the asset dirty on its account."""

    __slots__ = ("venue",)

    def __init__(self, venue: VenueState) -> None:
        self.venue = venue

    def get(self, account: str, asset: str) -> list[int]:
        return self.venue.account(account).balance(asset)

    def _changing(self, account: str) -> AccountState:
        venue = self.venue
        acct = venue.account(account)
        venue.pending.accounts[account] = acct
        return acct

    def free(self, account: str, asset: str) -> int:
        acct = self.venue.accounts.get(account)
        return 0 if acct is None else acct.free(asset)

    def credit(self, account: str, asset: str, amount: int) -> None:
        acct = self._changing(account)
        acct.balance(asset)[0] += amount
        acct.dirty_assets.add(asset)

    def reserve(self, account: str, asset: str, amount: int) -> bool:
        acct = self._changing(account)
        bal = acct.balance(asset)
        if bal[0] < amount:
            return False
        bal[0] -= amount
        bal[1] += amount
        acct.dirty_assets.add(asset)
        return True

    def release(self, account: str, asset: str, amount: int) -> None:
        acct = self._changing(account)
        bal = acct.balance(asset)
        bal[1] -= amount
        bal[0] += amount
        acct.dirty_assets.add(asset)

    def spend_reserved(self, account: str, asset: str, amount: int) -> None:
        acct = self._changing(account)
        acct.balance(asset)[1] -= amount
        acct.dirty_assets.add(asset)


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
    """Writes not yet handed to the database, in the order they happened: the events, the
    changed orders, the accounts with dirty marks, whether the id counters moved."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    accounts: dict[str, AccountState] = field(default_factory=dict)
    counters: bool = False

    def __bool__(self) -> bool:
        return bool(self.events or self.orders or self.accounts or self.counters)


class VenueState:
    """The accounts (one `AccountState` each), the open-order index per account, id counters
    and the pending writes. Mutated on the event loop only, in synchronous steps; whoever
    mutates it hands the pending writes to the unit of work before its next `await`."""

    def __init__(self) -> None:
        self.ledger = Ledger(self)
        self.reset()

    def reset(self) -> None:
        """Empty, as before loading (the object stays: every part of the venue holds it)."""
        self.accounts: dict[str, AccountState] = {}
        # open (or pending) orders by account, and their clientOrderIds
        self.open_by_account: dict[str, dict[str, Order]] = {}
        self.coid_by_account: dict[str, dict[str, Order]] = {}
        self.next_order_no = 1
        self.next_fill_no = 1
        self.pending = Pending()

    # --- accounts --------------------------------------------------------------------------
    def account(self, account: str) -> AccountState:
        """The account's state, created (and marked to be written) on first use."""
        acct = self.accounts.get(account)
        if acct is None:
            acct = self.accounts[account] = AccountState(account)
            acct.floor_dirty = True  # a new account row
            self.pending.accounts[account] = acct
        return acct

    def changed(self, acct: AccountState) -> None:
        """`acct` has dirty marks for the next unit."""
        self.pending.accounts[acct.account] = acct

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


# --- agents ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class Agent:
    """An API key bound to one account. The secret is decrypted in memory only (stored
    encrypted); the passphrase is known only by its keyed hash."""

    api_key_id: str
    account: str
    secret: str
    passphrase_hash: str
    scopes: frozenset[str]
    revoked: bool = False
    demo: bool = False
    box: SecretBox | None = field(default=None, repr=False)
    nonces: dict[str, int] = field(default_factory=dict, repr=False)  # SC-Nonce → wall ms it was used

    def verify_passphrase(self, passphrase: str) -> bool:
        """True when `passphrase` is this key's apiPassphrase (constant-time)."""
        return self.box is not None and self.box.passphrase_ok(self.passphrase_hash, passphrase)


@dataclass(frozen=True, slots=True)
class WsToken:
    token: str
    account: str
    api_key_id: str
    expires_ms: int


# --- the wire form of an execution event ----------------------------------------------------------
def encode_event(seq: int, prev_seq: int, ts_ms: int, kind: str, body: Any) -> bytes:
    """The §4.5 envelope with the §4.4 fields in `data`, made once when the event is written.

    The engine's bodies are `(account, fields)`; anything else (a raw control-API append, for
    demos and tests) still gets the envelope, with its body as `data` and `account` null."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, tuple) and len(body) == 2:
        account, data = body
    else:
        account, data = None, (body if isinstance(body, dict) else {"body": body})
    d: dict[str, Any] = {"seq": seq, "prevSeq": prev_seq}
    d.update(data)
    d["serverTsMs"] = ts_ms
    return orjson.dumps(
        {
            "channel": "executions",
            "account": account,
            "seq": seq,
            "prevSeq": prev_seq,
            "schemaId": "executions.v1",
            "schemaVersion": 1,
            "schemaEncoding": "json",
            "ts": ts_ms,
            "data": d,
        }
    )
