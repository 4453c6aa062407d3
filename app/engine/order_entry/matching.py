"""The matching engine of one shard: price-time priority books for the shard's markets.

Pure Python, no I/O. `ShardEngine.apply(cmd, now)` mutates the books, the shared ledger and
the open-order index, and records execution events and changed orders in the shared
`VenueState.pending`; the shard's worker commits them. Only the shard's worker calls `apply`.

Rules (CONTRACT §4.3, §6):
- price-time priority; a fill trades at the resting (maker) order's price;
- self-trade prevention: an incoming order that would trade with a resting order of the same
  account cancels that resting order (`CANCELED`) and goes on matching;
- `post_only` that would take → one `REJECTED POST_ONLY_WOULD_TAKE` event, nothing rests;
- `fok` that cannot fill completely (own orders do not count) → one `EXPIRED` event, no fills;
- `ioc` remainder → `CANCELED`;
- both sides of a match carry the same `fillId`.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.order_entry.markets import Market
from app.engine.order_entry.model import OPEN, Book, Order, VenueState, exec_body


@dataclass(slots=True)
class Place:
    order: Order


@dataclass(slots=True)
class Cancel:
    account: str
    market: int
    order_id: str | None
    client_order_id: str | None


@dataclass(slots=True)
class Replace:
    account: str
    market: int
    order_id: str
    price: int | None
    qty: int | None


@dataclass(slots=True)
class CancelAll:
    account: str
    market: int | None  # None: every market of this shard


Command = Place | Cancel | Replace | CancelAll


class ShardEngine:
    def __init__(self, shard: int, markets: list[Market], state: VenueState) -> None:
        self.shard = shard
        self.markets = {m.market: m for m in markets}
        self.books = {m.market: Book(m.market) for m in markets}
        self.state = state
        self.orders: dict[str, Order] = {}  # resting orders of this shard, by id
        self.now = 0

    # --- entry point ---------------------------------------------------------------------------
    def apply(self, cmd: Command, now: int) -> None:
        self.now = now
        if isinstance(cmd, Place):
            self.place(cmd.order)
        elif isinstance(cmd, Cancel):
            self.cancel(cmd)
        elif isinstance(cmd, Replace):
            self.replace(cmd)
        else:
            self.cancel_all(cmd)

    def restore(self, order: Order) -> None:
        """Put back a resting order loaded from the database (start-up), in priority order."""
        self.books[order.market].side(order.side).add(order)
        self.orders[order.order_id] = order

    # --- events ----------------------------------------------------------------------------------
    def _event(self, order: Order, status: str, **kw: object) -> None:
        body = exec_body(
            status=status,
            market=order.market,
            shard=self.shard,
            engine_ts=self.now,
            order=order,
            **kw,  # type: ignore[arg-type]
        )
        self.state.emit(order.account, body)

    def _reject(self, account: str, market: int, order_id: str | None, coid: str | None, code: str) -> None:
        body = exec_body(
            status="REJECTED",
            market=market,
            shard=self.shard,
            engine_ts=self.now,
            order_id=order_id,
            client_order_id=coid,
            reject_code=code,
        )
        self.state.emit(account, body)

    def _finish(self, order: Order, status: str) -> None:
        """Terminal: release what the order still holds, leave the index."""
        st = self.state
        if order.leaves_qty:
            st.ledger.release(order.account, order.reserve_asset, order.reserved)
        order.status = status
        if status != "FILLED":
            order.leaves_qty = 0
        st.untrack(order)
        st.touch(order)

    # --- place -----------------------------------------------------------------------------------
    def place(self, order: Order) -> None:
        book = self.books[order.market]
        opp = book.opposite(order.side)
        crossing = opp.crossing(order.price)
        if order.tif == "post_only" and crossing:
            self._finish(order, "REJECTED")
            self._event(order, "REJECTED", reject_code="POST_ONLY_WOULD_TAKE", zero_qty=True)
            return
        if order.tif == "fok":
            available = 0
            for p in crossing:
                for o in opp.levels[p]:
                    if o.account != order.account:
                        available += o.leaves_qty
                if available >= order.leaves_qty:
                    break
            if available < order.leaves_qty:
                self._finish(order, "EXPIRED")
                self._event(order, "EXPIRED", zero_qty=True)
                return
        order.status = "NEW"
        self.state.touch(order)
        self._event(order, "NEW")
        self._take(order, book)
        if order.leaves_qty == 0:
            return
        if order.tif == "ioc" or order.tif == "fok":
            self._finish(order, "CANCELED")
            self._event(order, "CANCELED")
            return
        book.side(order.side).add(order)
        self.orders[order.order_id] = order

    def _take(self, taker: Order, book: Book) -> None:
        """Match `taker` against the opposite side while it crosses."""
        st = self.state
        ledger = st.ledger
        opp = book.opposite(taker.side)
        is_bid = taker.side == "Bid"
        while taker.leaves_qty > 0:
            best = opp.best()
            if best is None or (best > taker.price if is_bid else best < taker.price):
                return
            level = opp.levels[best]
            maker = level[0]
            if maker.account == taker.account:  # self-trade prevention: cancel the resting order
                opp.remove(maker)
                self.orders.pop(maker.order_id, None)
                self._finish(maker, "CANCELED")
                self._event(maker, "CANCELED")
                continue
            q = min(taker.leaves_qty, maker.leaves_qty)
            p = maker.price
            fill_id = st.new_fill_id()
            buyer, seller = (taker, maker) if is_bid else (maker, taker)
            # buyer: its reservation was buyer.price × q of quote; p × q is spent, the rest freed
            ledger.spend_reserved(buyer.account, buyer.quote, buyer.price * q)
            ledger.credit(buyer.account, buyer.quote, (buyer.price - p) * q)
            ledger.credit(buyer.account, buyer.base, q)
            ledger.spend_reserved(seller.account, seller.base, q)
            ledger.credit(seller.account, seller.quote, p * q)
            for o in (taker, maker):
                o.leaves_qty -= q
                o.cum_qty += q
                o.status = "FILLED" if o.leaves_qty == 0 else "PARTIALLY_FILLED"
                st.touch(o)
            self._event(taker, taker.status, filled_qty=q, fill_id=fill_id, fill_price=p)
            self._event(maker, maker.status, filled_qty=q, fill_id=fill_id, fill_price=p)
            if maker.leaves_qty == 0:
                opp.remove(maker)
                self.orders.pop(maker.order_id, None)
                st.untrack(maker)
            if taker.leaves_qty == 0:
                st.untrack(taker)

    # --- cancel ----------------------------------------------------------------------------------
    def _find(self, account: str, market: int, order_id: str | None, coid: str | None) -> Order | None:
        order = self.state.find(account, order_id, coid)
        if order is None or order.market != market or order.order_id not in self.orders:
            return None
        return order

    def cancel(self, cmd: Cancel) -> None:
        order = self._find(cmd.account, cmd.market, cmd.order_id, cmd.client_order_id)
        if order is None:
            self._reject(cmd.account, cmd.market, cmd.order_id, cmd.client_order_id, "UNKNOWN_ORDER")
            return
        self.books[order.market].side(order.side).remove(order)
        del self.orders[order.order_id]
        self._finish(order, "CANCELED")
        self._event(order, "CANCELED")

    def cancel_all(self, cmd: CancelAll) -> None:
        mine = [
            o
            for o in self.state.open_by_account.get(cmd.account, {}).values()
            if o.order_id in self.orders and (cmd.market is None or o.market == cmd.market)
        ]
        mine.sort(key=lambda o: o.order_no)
        for order in mine:
            self.books[order.market].side(order.side).remove(order)
            del self.orders[order.order_id]
            self._finish(order, "CANCELED")
            self._event(order, "CANCELED")

    # --- replace ---------------------------------------------------------------------------------
    def replace(self, cmd: Replace) -> None:
        order = self._find(cmd.account, cmd.market, cmd.order_id, None)
        if order is None:
            self._reject(cmd.account, cmd.market, cmd.order_id, None, "UNKNOWN_ORDER")
            return
        coid = order.client_order_id
        new_price = order.price if cmd.price is None else cmd.price
        new_qty = order.qty if cmd.qty is None else cmd.qty
        if new_qty <= order.cum_qty:
            self._reject(cmd.account, cmd.market, order.order_id, coid, "INVALID_ORDER")
            return
        new_leaves = new_qty - order.cum_qty
        book = self.books[order.market]
        crosses = bool(book.opposite(order.side).crossing(new_price))
        if order.tif == "post_only" and crosses:
            self._reject(cmd.account, cmd.market, order.order_id, coid, "POST_ONLY_WOULD_TAKE")
            return
        old_reserved = order.reserved
        new_reserved = new_price * new_leaves if order.side == "Bid" else new_leaves
        ledger = self.state.ledger
        asset = order.reserve_asset
        if new_reserved > old_reserved:
            if not ledger.reserve(order.account, asset, new_reserved - old_reserved):
                self._reject(cmd.account, cmd.market, order.order_id, coid, "INSUFFICIENT_BALANCE")
                return
        elif new_reserved < old_reserved:
            ledger.release(order.account, asset, old_reserved - new_reserved)
        side = book.side(order.side)
        keeps_priority = new_price == order.price and new_leaves <= order.leaves_qty
        if keeps_priority:
            order.qty, order.leaves_qty = new_qty, new_leaves
        else:
            side.remove(order)
            order.price, order.qty, order.leaves_qty = new_price, new_qty, new_leaves
            order.priority = self.state.new_order_no()
        order.status = "REPLACED"
        self.state.touch(order)
        self._event(order, "REPLACED")
        if keeps_priority:
            return
        if crosses:
            del self.orders[order.order_id]
            self._take(order, book)
            if order.leaves_qty == 0:
                return
            self.orders[order.order_id] = order
        side.add(order)

    # --- the simulated liquidity provider ----------------------------------------------------------
    def refill(self, lp_account: str, levels: int, level_qty: int) -> None:
        """Keep `levels` LP orders on each side of every open market of this shard, `tick` apart
        around the market's mid; a level that traded away is quoted again."""
        st = self.state
        for m in self.markets.values():
            if m.status != "open":
                continue
            have: set[tuple[str, int]] = set()
            for o in st.open_by_account.get(lp_account, {}).values():
                if o.market == m.market and o.status in OPEN:
                    have.add((o.side, o.price))
            for k in range(1, levels + 1):
                for side, price in (("Ask", m.mid + k * m.tick), ("Bid", m.mid - k * m.tick)):
                    if price <= 0 or (side, price) in have:
                        continue
                    qty = level_qty * m.min_qty
                    order = new_order(st, lp_account, None, m, side, price, qty, "gtc", self.now)
                    if not st.ledger.reserve(lp_account, order.reserve_asset, order.reserved):
                        continue
                    st.track(order)
                    self.place(order)


def new_order(
    st: VenueState,
    account: str,
    coid: str | None,
    m: Market,
    side: str,
    price: int,
    qty: int,
    tif: str,
    now: int,
) -> Order:
    no = st.new_order_no()
    return Order(
        order_id=f"o-{no}",
        order_no=no,
        account=account,
        client_order_id=coid,
        market=m.market,
        side=side,
        price=price,
        qty=qty,
        leaves_qty=qty,
        cum_qty=0,
        status="PENDING",
        tif=tif,
        created_ms=now,
        priority=no,
        base=m.base_asset,
        quote=m.quote_asset,
    )
