"""CFD trading: market and pending orders, closes (full and partial), modifications,
pending-order activation and expiration, and the stop-out.
"""

from __future__ import annotations

from typing import Any

from app.engine.broker import validate
from app.engine.broker.core import Core
from app.engine.broker.margin import Margin
from app.engine.broker.model import (
    BUY,
    BUY_LIMIT,
    BUY_STOP,
    CLOSED,
    CODE_CLIENT,
    CODE_EXPIRATION,
    CODE_STOP_OUT,
    MODIFIED,
    OPEN,
    PARTIALLY_CLOSED,
    PENDING,
    PENDING_ACTIVATED,
    PENDING_CANCELLED,
    S_CANCELLED,
    S_CLOSED,
    S_OPEN,
    S_PENDING,
    SELL,
    SELL_LIMIT,
    SELL_STOP,
    ZERO,
    Account,
    Quote,
    Trade,
    money,
)
from app.engine.broker.store import INS_TRADE, UPD_TRADE, Work
from app.engine.broker.symbols import BY_NAME, Symbol
from app.engine.errors import Conflict, NotFound

CMDS = (BUY, SELL, BUY_LIMIT, SELL_LIMIT, BUY_STOP, SELL_STOP)


class Trading:
    def __init__(self, core: Core, margin: Margin) -> None:
        self.core = core
        self.margin = margin

    async def open_trade(
        self,
        acc: Account,
        *,
        cmd: int,
        volume: int,
        symbol: Any,
        sl: float | None = None,
        tp: float | None = None,
        open_price: float | None = None,
        expiration: int | None = None,
        comment: str | None = None,
    ) -> int:
        if cmd not in CMDS:
            raise validate.bad(
                "cmd", "must be 0 BUY, 1 SELL, 2 BUY_LIMIT, 3 SELL_LIMIT, 4 BUY_STOP or 5 SELL_STOP"
            )
        sym = validate.symbol(symbol)
        validate.volume(sym, volume)
        book, m = self.core.book, self.margin
        q = book.quotes[sym.symbol]
        sl_p, tp_p = validate.price(sym, sl), validate.price(sym, tp)
        now = self.core.now_s()
        buy_side = cmd in (BUY, BUY_LIMIT, BUY_STOP)
        if cmd in (BUY, SELL):
            price = q.ask if cmd == BUY else q.bid
            validate.stops(buy_side, q.bid if cmd == BUY else q.ask, sl_p, tp_p)
            exp = 0
        else:
            if not open_price:
                raise validate.bad("open_price", "is required for a pending order")
            price = round(open_price, sym.digits)
            validate.pending_price(cmd, q, price)
            validate.stops(buy_side, price, sl_p, tp_p)
            exp = expiration or 0
            validate.expiration(exp, self.core.clock.now_ms())
        required = m.margin_for(acc, sym, volume, price)
        free = m.metrics(acc).margin_free
        if required > free:
            raise Conflict(
                f"free margin {free} cannot carry the required margin {required}", code="NOT_ENOUGH_MONEY"
            )
        pending = cmd not in (BUY, SELL)
        t = Trade(
            order=book.order_id(),
            login=acc.login,
            cmd=cmd,
            state=PENDING if pending else OPEN,
            status=S_PENDING if pending else S_OPEN,
            symbol=sym.symbol,
            volume=volume,
            open_price=price,
            digits=sym.digits,
            open_time=now,
            sl=sl_p,
            tp=tp_p,
            expiration=exp,
            comment=comment or "",
            margin=ZERO if pending else required,
        )
        work = Work()
        work.row(INS_TRADE, t)
        if pending:
            book.index_pending(acc, t)
            self.arm_expiration(t)
            work.emit(acc.login, m.trade_frame(acc, t, CODE_CLIENT))
        else:
            book.index_position(acc, t)
            work.emit(acc.login, m.trade_frame(acc, t, CODE_CLIENT))
            work.emit(acc.login, m.balance_frame(acc, CODE_CLIENT))
        await self.core.commit(work)
        return t.order

    def close(
        self,
        acc: Account,
        t: Trade,
        volume: int,
        price: float,
        code: int,
        work: Work,
        comment: str | None = None,
    ) -> None:
        """Close `volume` of position `t` at `price` (stage only: rows and frames go to `work`)."""
        now = self.core.now_s()
        profit = self.margin.profit_at(acc, t, price, volume)
        if volume >= t.volume:
            t.status, t.state = S_CLOSED, CLOSED
            t.close_price, t.close_time, t.profit, t.reason = price, now, profit, code
            if comment:
                t.comment = comment
            self.core.book.unindex_position(acc, t)
            work.row(UPD_TRADE, t)
            work.emit(acc.login, t.frame(code))
        else:
            part_margin = money(t.margin * volume / t.volume, acc.digits)
            part = Trade(
                order=self.core.book.order_id(),
                login=acc.login,
                cmd=t.cmd,
                state=CLOSED,
                status=S_CLOSED,
                symbol=t.symbol,
                volume=volume,
                open_price=t.open_price,
                digits=t.digits,
                open_time=t.open_time,
                close_price=price,
                close_time=now,
                sl=t.sl,
                tp=t.tp,
                profit=profit,
                comment=comment or f"partial close of #{t.order}",
                reason=code,
                margin=part_margin,
            )
            t.volume -= volume
            t.margin = t.margin - part_margin
            t.state = PARTIALLY_CLOSED
            work.row(INS_TRADE, part)
            work.row(UPD_TRADE, t)
            work.emit(acc.login, t.frame(code, profit=profit, close_price=price, close_time=now))
        acc.balance = acc.balance + profit
        work.balance(acc)
        work.emit(acc.login, self.margin.balance_frame(acc, code))

    async def close_trade(self, acc: Account, order: int, volume: int | None, comment: str | None) -> None:
        t = acc.positions.get(order)
        if t is None:
            if order in acc.pending:
                raise NotFound(
                    f"order {order} is a pending order: cancel it with DELETE /trade/pending",
                    code="TRADE_ERROR",
                )
            raise NotFound(f"no open trade {order} on login {acc.login}", code="TRADE_ERROR")
        sym = BY_NAME[t.symbol]
        vol = t.volume if volume is None else volume
        if vol <= 0 or vol > t.volume:
            raise validate.bad("volume", f"must be between 1 and the position's volume {t.volume}")
        if vol < t.volume:
            if vol % sym.vol_step:
                raise validate.bad("volume", f"must be a multiple of the lot step {sym.vol_step}")
            if t.volume - vol < sym.vol_min:
                raise validate.bad("volume", f"would leave less than the minimum volume {sym.vol_min} open")
        work = Work()
        self.close(acc, t, vol, self.margin.close_price(t), CODE_CLIENT, work, comment)
        await self.core.commit(work)

    async def cancel_pending(self, acc: Account, order: int) -> None:
        t = acc.pending.get(order)
        if t is None:
            raise NotFound(f"no pending order {order} on login {acc.login}", code="TRADE_ERROR")
        work = Work()
        self.cancel(acc, t, CODE_CLIENT, work)
        await self.core.commit(work)

    def cancel(self, acc: Account, t: Trade, code: int, work: Work) -> None:
        self.core.book.unindex_pending(acc, t)
        t.status, t.state, t.close_time, t.reason = S_CANCELLED, PENDING_CANCELLED, self.core.now_s(), code
        work.row(UPD_TRADE, t)
        work.emit(acc.login, t.frame(code))

    async def modify_trade(
        self,
        acc: Account,
        order: int,
        *,
        sl: float | None,
        tp: float | None,
        open_price: float | None,
        expiration: int | None,
    ) -> None:
        t = acc.positions.get(order) or acc.pending.get(order)
        if t is None:
            raise NotFound(f"no open or pending trade {order} on login {acc.login}", code="TRADE_ERROR")
        if sl is None and tp is None and open_price is None and expiration is None:
            raise validate.bad("sl", "nothing to modify: give sl, tp, open_price or expiration")
        sym = BY_NAME[t.symbol]
        q = self.core.book.quotes[t.symbol]
        new_sl = t.sl if sl is None else validate.price(sym, sl)
        new_tp = t.tp if tp is None else validate.price(sym, tp)
        buy_side = t.cmd in (BUY, BUY_LIMIT, BUY_STOP)
        if t.status == S_OPEN:
            if open_price:
                raise validate.bad("open_price", "can only be changed on a pending order")
            if expiration:
                raise validate.bad("expiration", "applies to pending orders only")
            validate.stops(buy_side, q.bid if t.cmd == BUY else q.ask, new_sl, new_tp)
            new_price, new_exp = t.open_price, t.expiration
        else:
            new_price = t.open_price if not open_price else round(open_price, sym.digits)
            if open_price:
                validate.pending_price(t.cmd, q, new_price)
            new_exp = t.expiration if expiration is None else expiration
            validate.expiration(new_exp, self.core.clock.now_ms())
            validate.stops(buy_side, new_price, new_sl, new_tp)
        t.sl, t.tp, t.open_price, t.state = new_sl, new_tp, new_price, MODIFIED
        if t.status == S_PENDING and new_exp != t.expiration:
            t.expiration = new_exp
            if t.timer is not None:
                t.timer.cancel()
                t.timer = None
            self.arm_expiration(t)
        work = Work()
        work.row(UPD_TRADE, t)
        work.emit(acc.login, self.margin.trade_frame(acc, t, CODE_CLIENT))
        await self.core.commit(work)

    def arm_expiration(self, t: Trade) -> None:
        if t.expiration and self.core.running and t.timer is None:
            order, login = t.order, t.login
            t.timer = self.core.clock.call_at(
                t.expiration * 1000, lambda: self._expire(login, order), name="broker-expire"
            )

    async def _expire(self, login: int, order: int) -> None:
        await self.core.before_timer()
        acc = self.core.book.accounts.get(login)
        t = None if acc is None else acc.pending.get(order)
        if acc is None or t is None:
            return
        t.timer = None
        work = Work()
        self.cancel(acc, t, CODE_EXPIRATION, work)
        await self.core.commit(work)

    def activate(self, acc: Account, t: Trade, sym: Symbol, q: Quote, work: Work) -> None:
        """A pending order the price reached becomes a position at the market price."""
        self.core.book.unindex_pending(acc, t)
        t.cmd = BUY if t.cmd in (BUY_LIMIT, BUY_STOP) else SELL
        t.open_price = q.ask if t.cmd == BUY else q.bid
        t.open_time = q.ctm
        t.state, t.status = PENDING_ACTIVATED, S_OPEN
        t.margin = self.margin.margin_for(acc, sym, t.volume, t.open_price)
        self.core.book.index_position(acc, t)
        work.row(UPD_TRADE, t)
        work.emit(acc.login, self.margin.trade_frame(acc, t, CODE_CLIENT))
        work.emit(acc.login, self.margin.balance_frame(acc, CODE_CLIENT))

    def stop_outs(self, work: Work) -> None:
        """Close the worst position of every login under the stop-out level, until it is not."""
        book, m = self.core.book, self.margin
        for login in list(book.open_logins):
            acc = book.accounts[login]
            while acc.positions:
                metrics = m.metrics(acc)
                if metrics.margin <= 0 or metrics.margin_level >= m.stop_out_level:
                    break
                worst = min(acc.positions.values(), key=lambda t: (m.floating(acc, t), t.order))
                self.close(acc, worst, worst.volume, m.close_price(worst), CODE_STOP_OUT, work)
