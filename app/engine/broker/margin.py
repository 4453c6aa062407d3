"""Money on live prices: currency conversion, floating profit, required margin, and the account
metrics (equity, free margin, margin level, level type) behind `b` frames and `/account/balance`.
"""

from __future__ import annotations

from typing import Any

from app.engine.broker.core import Core
from app.engine.broker.model import (
    BUY,
    LEVEL_MARGIN_CALL,
    LEVEL_OK,
    LEVEL_STOP_OUT,
    S_OPEN,
    Account,
    Metrics,
    Quote,
    Trade,
)
from app.engine.broker.symbols import BY_NAME, MARGIN_FOREX, Symbol

STOP_OUT_LEVEL = 50.0  # % margin level at which the worst position is closed
MARGIN_CALL_LEVEL = 100.0  # % margin level under which level_type is 1 (margin call)


def mid(q: Quote) -> float:
    return (q.bid + q.ask) / 2


class Margin:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.stop_out_level = STOP_OUT_LEVEL
        self.margin_call_level = MARGIN_CALL_LEVEL

    def rate(self, frm: str, to: str) -> float:
        """Units of `to` per unit of `frm`, at current mid prices (via USD when no direct pair)."""
        if frm == to:
            return 1.0
        quotes = self.core.book.quotes
        q = quotes.get(frm + to)
        if q is not None:
            return mid(q)
        q = quotes.get(to + frm)
        if q is not None:
            return 1.0 / mid(q)
        if frm != "USD" and to != "USD":
            return self.rate(frm, "USD") * self.rate("USD", to)
        raise ValueError(f"no conversion from {frm} to {to}")

    def close_price(self, t: Trade) -> float:
        q = self.core.book.quotes[t.symbol]
        return q.bid if t.cmd == BUY else q.ask

    def profit_at(self, acc: Account, t: Trade, price: float, volume: int | None = None) -> float:
        sym = BY_NAME[t.symbol]
        vol = t.volume if volume is None else volume
        diff = price - t.open_price if t.cmd == BUY else t.open_price - price
        raw = diff * vol / 100 * sym.contract_size
        return round(raw * self.rate(sym.quote, acc.currency), 2)

    def floating(self, acc: Account, t: Trade) -> float:
        return self.profit_at(acc, t, self.close_price(t))

    def margin_for(self, acc: Account, sym: Symbol, volume: int, price: float) -> float:
        lots = volume / 100
        leverage = acc.leverage / sym.margin_divider
        if sym.margin_mode == MARGIN_FOREX:
            amount, ccy = lots * sym.contract_size / leverage, sym.base
        else:
            amount, ccy = lots * sym.contract_size * price / leverage, sym.quote
        return round(amount * self.rate(ccy, acc.currency), 2)

    def metrics(self, acc: Account) -> Metrics:
        profit = round(float(sum(self.floating(acc, t) for t in acc.positions.values())), 2)
        margin = round(float(sum(t.margin for t in acc.positions.values())), 2)
        equity = round(acc.balance + acc.credit + profit, 2)
        level = round(equity / margin * 100, 2) if margin > 0 else 0.0
        if margin > 0 and level < self.stop_out_level:
            lt = LEVEL_STOP_OUT
        elif margin > 0 and level < self.margin_call_level:
            lt = LEVEL_MARGIN_CALL
        else:
            lt = LEVEL_OK
        return Metrics(acc.balance, acc.credit, equity, margin, round(equity - margin, 2), level, profit, lt)

    def balance_frame(self, acc: Account, code: int) -> list[Any]:
        m = self.metrics(acc)
        return [
            "b",
            acc.login,
            m.balance,
            m.margin,
            m.margin_free,
            m.margin_level,
            m.equity,
            m.credit,
            m.level_type,
            m.profit,
            code,
        ]

    def balance_row(self, acc: Account) -> list[Any]:
        m = self.metrics(acc)
        return [
            acc.login,
            m.balance,
            m.credit,
            m.equity,
            m.margin,
            m.margin_free,
            m.margin_level,
            m.profit,
            acc.currency,
            acc.leverage,
            m.level_type,
        ]

    def trade_frame(self, acc: Account, t: Trade, code: int) -> list[Any]:
        if t.status == S_OPEN:
            return t.frame(code, profit=self.floating(acc, t), close_price=self.close_price(t))
        return t.frame(code)
