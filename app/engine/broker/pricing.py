"""Quotes: the seeded random-walk simulator, prices set by the control API, and the pipeline
every price change runs, in this order: tick fan-out → pending-order activation → SL/TP →
price alerts → stop-out.
"""

from __future__ import annotations

import logging
import math
import random

import orjson

from app.clock import Timer
from app.engine.broker.alerts import Alerts
from app.engine.broker.core import Core
from app.engine.broker.model import (
    BUY,
    BUY_LIMIT,
    BUY_STOP,
    CODE_SL,
    CODE_TP,
    SELL_LIMIT,
    SELL_STOP,
    Quote,
)
from app.engine.broker.sessions import Live
from app.engine.broker.store import Work
from app.engine.broker.symbols import SYMBOLS, Symbol
from app.engine.broker.trading import Trading
from app.engine.errors import ServiceUnavailable

log = logging.getLogger("refserver.broker")

SIM_SEED = 20_240_601


def spread_around(sym: Symbol, mid: float) -> tuple[float, float]:
    half = sym.spread * sym.point / 2
    bid = round(mid - half, sym.digits)
    return bid, round(bid + sym.spread * sym.point, sym.digits)


class Pricing:
    def __init__(self, core: Core, trading: Trading, alerts: Alerts, live: Live) -> None:
        self.core = core
        self.trading = trading
        self.alerts = alerts
        self.live = live
        self.tick_interval_ms = core.settings.broker_tick_interval_ms
        self._timer: Timer | None = None
        self._mids: dict[str, float] = {}
        self._rngs: dict[str, random.Random] = {}
        self.reset()

    def reset(self) -> None:
        """Every symbol back at its reference price, the simulator at its seed."""
        now_s = self.core.now_s()
        quotes = self.core.book.quotes
        quotes.clear()
        for sym in SYMBOLS:
            self._mids[sym.symbol] = sym.mid
            self._rngs[sym.symbol] = random.Random(f"{SIM_SEED}:{sym.symbol}")
            bid, ask = spread_around(sym, sym.mid)
            quotes[sym.symbol] = Quote(bid, ask, now_s)

    def start(self) -> None:
        if self.tick_interval_ms > 0:
            self._timer = self.core.clock.call_later(self.tick_interval_ms, self._tick, name="broker-quotes")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def set_prices(self, prices: list[tuple[Symbol, float, float]]) -> None:
        work = Work()
        for sym, bid, ask in prices:
            self._mids[sym.symbol] = (bid + ask) / 2
            self.apply(sym, bid, ask, work)
        await self.core.commit(work)

    async def _tick(self) -> None:
        if not self.core.running:
            return
        self._timer = self.core.clock.call_later(self.tick_interval_ms, self._tick, name="broker-quotes")
        work = Work()
        for sym in SYMBOLS:
            rng = self._rngs[sym.symbol]
            x = self._mids[sym.symbol]
            # random walk with a weak pull back to the starting price, so prices stay plausible
            x *= math.exp(sym.sigma * rng.gauss(0.0, 1.0) - 0.002 * math.log(x / sym.mid))
            self._mids[sym.symbol] = x
            bid, ask = spread_around(sym, x)
            self.apply(sym, bid, ask, work)
        try:
            await self.core.commit(work)
        except ServiceUnavailable:
            log.warning("quote tick not committed: the broker is rebuilding its state")

    def apply(self, sym: Symbol, bid: float, ask: float, work: Work) -> None:
        """One price change of `sym`, staged into `work`."""
        book = self.core.book
        name = sym.symbol
        prev = book.quotes[name]
        q = Quote(bid, ask, self.core.now_s())
        book.quotes[name] = q
        subs = self.live.tick_subs[name]
        if subs:
            frame = orjson.dumps(["t", name, bid, ask, q.ctm]).decode()
            for listener in subs:
                listener.push_tick(frame)
        pend = book.pending_by_symbol[name]
        if pend:
            for t in sorted(pend.values(), key=lambda x: x.order):
                hit = {
                    BUY_LIMIT: ask <= t.open_price,
                    SELL_LIMIT: bid >= t.open_price,
                    BUY_STOP: ask >= t.open_price,
                    SELL_STOP: bid <= t.open_price,
                }[t.cmd]
                if hit:
                    self.trading.activate(book.accounts[t.login], t, sym, q, work)
        pos = book.positions_by_symbol[name]
        if pos:
            for t in sorted(pos.values(), key=lambda x: x.order):
                if t.cmd == BUY:
                    px = bid
                    code = CODE_SL if t.sl and bid <= t.sl else CODE_TP if t.tp and bid >= t.tp else -1
                else:
                    px = ask
                    code = CODE_SL if t.sl and ask >= t.sl else CODE_TP if t.tp and ask <= t.tp else -1
                if code >= 0:
                    self.trading.close(book.accounts[t.login], t, t.volume, px, code, work)
        if book.alerts_by_symbol[name]:
            self.alerts.check(sym, prev, q, work)
        if book.open_logins:
            self.trading.stop_outs(work)
