"""The matching engine alone (pure Python, no I/O) under seeded random order flow: the resting
book is never crossed, quantities and balances are conserved, reservations equal what resting
orders hold, and every fill appears exactly once for each side."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

import pytest

from app.engine.order_entry.markets import MARKETS
from app.engine.order_entry.matching import Cancel, CancelAll, Place, Replace, ShardEngine, new_order
from app.engine.order_entry.model import OPEN, VenueState

ACCOUNTS = [f"0x{i:040x}" for i in range(1, 5)]
SHARD0 = [m for m in MARKETS if m.shard == 0]


def totals(st: VenueState) -> Counter[str]:
    out: Counter[str] = Counter()
    for acct in st.accounts.values():
        for asset, (free, reserved) in acct.balances.items():
            out[asset] += free + reserved
    return out


def check_invariants(engine: ShardEngine, st: VenueState, start: Counter[str]) -> None:
    for book in engine.books.values():
        book.check()
    assert totals(st) == start, "balances not conserved"
    held: Counter[tuple[str, str]] = Counter()
    for o in engine.orders.values():
        assert o.status in OPEN and o.leaves_qty > 0 and o.cum_qty + o.leaves_qty == o.qty
        held[(o.account, o.reserve_asset)] += o.reserved
    for account, acct in st.accounts.items():
        for asset, (free, reserved) in acct.balances.items():
            assert free >= 0
            assert reserved == held[(account, asset)], (account, asset, reserved, held[(account, asset)])
    assert set(engine.orders) == {o.order_id for by in st.open_by_account.values() for o in by.values()}


@pytest.mark.parametrize("seed", range(12))
def test_random_flow_keeps_invariants(seed: int) -> None:
    """Random places (all time-in-force), cancels, replaces and cancel-alls across accounts."""
    rng = random.Random(seed)
    st = VenueState()
    engine = ShardEngine(0, SHARD0, st)
    for a in ACCOUNTS:
        for asset, amount in (("USDC", 10**9), ("BTC", 10**4), ("ETH", 10**5)):
            st.ledger.credit(a, asset, amount)
    start = totals(st)
    orders_by_account: dict[str, list[str]] = defaultdict(list)
    now = 0
    for _ in range(600):
        now += 1
        acct = rng.choice(ACCOUNTS)
        m = rng.choice(SHARD0)
        roll = rng.random()
        if roll < 0.7:
            side = rng.choice(("Bid", "Ask"))
            price = m.mid + rng.randint(-5, 5) * m.tick
            qty = rng.randint(1, 20) * m.min_qty
            tif = rng.choice(("gtc", "gtc", "ioc", "fok", "post_only"))
            order = new_order(st, acct, None, m, side, price, qty, tif, now)
            if not st.ledger.reserve(acct, order.reserve_asset, order.reserved):
                continue
            st.track(order)
            engine.apply(Place(order), now)
            orders_by_account[acct].append(order.order_id)
        elif roll < 0.85 and orders_by_account[acct]:
            engine.apply(Cancel(acct, m.market, rng.choice(orders_by_account[acct]), None), now)
        elif roll < 0.97 and orders_by_account[acct]:
            oid = rng.choice(orders_by_account[acct])
            price = m.mid + rng.randint(-5, 5) * m.tick if rng.random() < 0.5 else None
            qty = rng.randint(1, 25) * m.min_qty if price is None or rng.random() < 0.5 else None
            engine.apply(Replace(acct, m.market, oid, price, qty), now)
        else:
            engine.apply(CancelAll(acct, rng.choice((None, m.market))), now)
        check_invariants(engine, st, start)

    events: list[tuple[str, dict[str, Any]]] = st.take().events
    fills: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    cum: Counter[str] = Counter()
    last: dict[str, dict[str, Any]] = {}
    for account, e in events:
        if e["fillId"] is not None:
            fills[e["fillId"]].append((account, e))
            cum[e["orderId"]] += e["filledQty"]
        if e["orderId"] is not None and e["status"] != "REJECTED":
            last[e["orderId"]] = e
    assert fills, "the flow should trade"
    for fid, sides in fills.items():
        assert len(sides) == 2, fid
        (a1, e1), (a2, e2) = sides
        assert a1 != a2, "self-trade"
        assert {e1["side"], e2["side"]} == {"Bid", "Ask"}
        assert e1["filledQty"] == e2["filledQty"] > 0 and e1["fillPrice"] == e2["fillPrice"]
    for oid, e in last.items():
        assert e["cumQty"] == cum[oid], oid
    nonreject = [e for _, e in events if e["status"] == "REJECTED"]
    assert all(e["cumQty"] == 0 and e["leavesQty"] == 0 for e in nonreject)


def test_liquidity_provider_refills_levels() -> None:
    """The liquidity provider keeps its levels around the mid; a level traded away comes back."""
    st = VenueState()
    engine = ShardEngine(0, SHARD0, st)
    lp, taker = ACCOUNTS[0], ACCOUNTS[1]
    for asset in ("USDC", "BTC", "ETH"):
        st.ledger.credit(lp, asset, 10**15)
    st.ledger.credit(taker, "USDC", 10**12)
    engine.refill(lp, 3, 10)
    m = SHARD0[0]
    book = engine.books[m.market]
    assert book.asks.prices == [m.mid + k * m.tick for k in (1, 2, 3)]
    assert book.bids.prices == [m.mid - k * m.tick for k in (3, 2, 1)]
    order = new_order(st, taker, None, m, "Bid", m.mid + m.tick, 10 * m.min_qty, "ioc", 1)
    assert st.ledger.reserve(taker, order.reserve_asset, order.reserved)
    st.track(order)
    engine.apply(Place(order), 1)
    assert book.asks.best() == m.mid + 2 * m.tick
    engine.refill(lp, 3, 10)
    assert book.asks.best() == m.mid + m.tick
    book.check()
