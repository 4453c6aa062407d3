"""Money on live prices: currency conversion, floating profit, required margin, and the account
metrics (equity, free margin, margin level, level type) behind `b` frames and `/account/balance`.

Money is exact decimal arithmetic in the account currency's digits (CONTRACT §6): prices are
read as the decimals they are quoted in, every amount is rounded half away from zero to the
currency's digits, and only the wire turns amounts into JSON numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.engine.broker.core import Core
from app.engine.broker.model import (
    BUY,
    LEVEL_MARGIN_CALL,
    LEVEL_OK,
    LEVEL_STOP_OUT,
    S_OPEN,
    ZERO,
    Account,
    Metrics,
    Quote,
    Trade,
    dec,
    money,
)
from app.engine.broker.symbols import BY_NAME, MARGIN_FOREX, SYMBOLS, Symbol

STOP_OUT_LEVEL = Decimal(50)  # % margin level at which the worst position is closed
MARGIN_CALL_LEVEL = Decimal(100)  # % margin level under which level_type is 1 (margin call)
ONE = Decimal(1)
HUNDRED = Decimal(100)
# each symbol's contract size and margin divider as exact decimals, converted once
CONTRACT = {s.symbol: dec(s.contract_size) for s in SYMBOLS}
DIVIDER = {s.symbol: dec(s.margin_divider) for s in SYMBOLS}


def mid(q: Quote) -> Decimal:
    return (dec(q.bid) + dec(q.ask)) / 2


class Margin:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.stop_out_level = STOP_OUT_LEVEL
        self.margin_call_level = MARGIN_CALL_LEVEL

    def rate(self, frm: str, to: str) -> Decimal:
        """Units of `to` per unit of `frm`, at current mid prices (via USD when no direct pair)."""
        if frm == to:
            return ONE
        quotes = self.core.book.quotes
        q = quotes.get(frm + to)
        if q is not None:
            return mid(q)
        q = quotes.get(to + frm)
        if q is not None:
            return ONE / mid(q)
        if frm != "USD" and to != "USD":
            return self.rate(frm, "USD") * self.rate("USD", to)
        raise ValueError(f"no conversion from {frm} to {to}")

    def close_price(self, t: Trade) -> float:
        q = self.core.book.quotes[t.symbol]
        return q.bid if t.cmd == BUY else q.ask

    def profit_at(self, acc: Account, t: Trade, price: float, volume: int | None = None) -> Decimal:
        sym = BY_NAME[t.symbol]
        vol = t.volume if volume is None else volume
        diff = dec(price) - dec(t.open_price) if t.cmd == BUY else dec(t.open_price) - dec(price)
        raw = diff * vol / 100 * CONTRACT[sym.symbol]
        return money(raw * self.rate(sym.quote, acc.currency), acc.digits)

    def floating(self, acc: Account, t: Trade) -> Decimal:
        return self.profit_at(acc, t, self.close_price(t))

    def margin_for(self, acc: Account, sym: Symbol, volume: int, price: float) -> Decimal:
        lots = Decimal(volume) / 100
        leverage = Decimal(acc.leverage) / DIVIDER[sym.symbol]
        contract = CONTRACT[sym.symbol]
        if sym.margin_mode == MARGIN_FOREX:
            amount, ccy = lots * contract / leverage, sym.base
        else:
            amount, ccy = lots * contract * dec(price) / leverage, sym.quote
        return money(amount * self.rate(ccy, acc.currency), acc.digits)

    def metrics(self, acc: Account) -> Metrics:
        profit = sum((self.floating(acc, t) for t in acc.positions.values()), ZERO)
        margin = sum((t.margin for t in acc.positions.values()), ZERO)
        equity = acc.balance + acc.credit + profit
        level = money(equity / margin * HUNDRED) if margin > 0 else ZERO
        if margin > 0 and level < self.stop_out_level:
            lt = LEVEL_STOP_OUT
        elif margin > 0 and level < self.margin_call_level:
            lt = LEVEL_MARGIN_CALL
        else:
            lt = LEVEL_OK
        return Metrics(acc.balance, acc.credit, equity, margin, equity - margin, level, profit, lt)

    def balance_frame(self, acc: Account, code: int) -> list[Any]:
        m = self.metrics(acc)
        return [
            "b",
            acc.login,
            float(m.balance),
            float(m.margin),
            float(m.margin_free),
            float(m.margin_level),
            float(m.equity),
            float(m.credit),
            m.level_type,
            float(m.profit),
            code,
        ]

    def balance_row(self, acc: Account) -> list[Any]:
        m = self.metrics(acc)
        return [
            acc.login,
            float(m.balance),
            float(m.credit),
            float(m.equity),
            float(m.margin),
            float(m.margin_free),
            float(m.margin_level),
            float(m.profit),
            acc.currency,
            acc.leverage,
            m.level_type,
        ]

    def trade_frame(self, acc: Account, t: Trade, code: int) -> list[Any]:
        if t.status == S_OPEN:
            return t.frame(code, profit=self.floating(acc, t), close_price=self.close_price(t))
        return t.frame(code)
