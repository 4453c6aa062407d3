"""Quotes: the seeded random-walk simulator, prices set by the control API, and the pipeline
every price change runs, in this order: tick fan-out → pending-order activation → SL/TP →
price alerts → stop-out.

The simulator steps once per `broker_tick_interval_ms` of domain time, on a fixed grid from the
moment it started. It never keeps one clock timer per step: `catch_up()` replays every step
the clock has passed, in bulk —

* in real time a wall-clock ticker calls it once per interval (one step each time);
* a clock advance calls it when the advance is done (a day is 86,400 steps), and every broker
  timer calls it before it acts (`Core.before_timer`), so a pending order's expiration or an
  alert's expiry sees the prices of every step before its instant;
* each step moves, in log space, `y ← 0.998·y + σ·ε` (a random walk pulled weakly back to the
  symbol's reference price; ε uniform with unit variance, from the symbol's own seeded RNG); a
  symbol nothing depends on leaps a batch of steps in one normal draw of the same variance.

A symbol something depends on — pending orders, positions, alerts or tick subscribers — runs
the whole pipeline at every step, at that step's time, so SL/TP, activations and alerts fire
exactly where the path crosses them; the others only walk their path, and their quotes (used
for currency conversion) are set at the end of each slice of steps. A slice lasts a few
milliseconds; its outcomes are committed as one unit and the event loop is yielded between
slices, so the rest of the server keeps answering during a long advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable

import orjson

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
PULL = 0.998  # per step, the log-distance to the reference price keeps this share
UNIT = math.sqrt(12.0)  # (u - 0.5)·UNIT has unit variance for u uniform in [0, 1)
FULL = (math.nan, math.nan, math.nan, math.nan)  # every step runs the whole pipeline
IDLE = (-math.inf, math.inf, -math.inf, math.inf)  # no level to watch (until the slice's next batch)
SLICE_S = 0.004  # wall time of one slice of steps before the event loop gets a turn
BATCH = 64  # steps between two looks at the slice's wall time


_SPREADS = {s.symbol: (s.spread * s.point / 2, s.spread * s.point) for s in SYMBOLS}


def spread_around(sym: Symbol, mid: float) -> tuple[float, float]:
    """The bid and ask of a mid price (the symbol's spread around it, in its digits)."""
    half, full = _SPREADS[sym.symbol]
    bid = round(mid - half, sym.digits)
    return bid, round(bid + full, sym.digits)


class _Walker:
    """One watched symbol's path through a batch of steps (its quote is written back at the end)."""

    __slots__ = (
        "ask",
        "bid",
        "digits",
        "full",
        "half",
        "levels",
        "mid",
        "ms",
        "name",
        "rnd",
        "scale",
        "sym",
        "y",
    )

    def __init__(
        self, sym: Symbol, levels: tuple[float, float, float, float], y: float, rng: random.Random, q: Quote
    ) -> None:
        self.sym, self.name, self.levels, self.y, self.rnd = sym, sym.symbol, levels, y, rng.random
        self.scale, self.mid, self.digits = sym.sigma * UNIT, sym.mid, sym.digits
        self.half, self.full = _SPREADS[sym.symbol]
        self.bid, self.ask, self.ms = q.bid, q.ask, q.ctm * 1000


class Pricing:
    def __init__(self, core: Core, trading: Trading, alerts: Alerts, live: Live) -> None:
        self.core = core
        self.trading = trading
        self.alerts = alerts
        self.live = live
        self.interval_ms = core.settings.broker_tick_interval_ms
        self.sim_ms = 0  # domain time of the last simulated step
        self._logs: dict[str, float] = {}  # log(mid / reference mid) per symbol
        self._rngs: dict[str, random.Random] = {}
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._unhook: Callable[[], None] | None = None
        self.reset()

    def reset(self) -> None:
        """Every symbol back at its reference price, the simulator at its seed."""
        now = self.core.clock.now_ms()
        self.sim_ms = now
        quotes = self.core.book.quotes
        quotes.clear()
        for sym in SYMBOLS:
            self._logs[sym.symbol] = 0.0
            self._rngs[sym.symbol] = random.Random(f"{SIM_SEED}:{sym.symbol}")
            bid, ask = spread_around(sym, sym.mid)
            quotes[sym.symbol] = Quote(bid, ask, now // 1000)

    # --- driving ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self.interval_ms <= 0:
            return
        self.sim_ms = max(self.sim_ms, self.core.clock.now_ms())
        self._hook_advance()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_in_real_time(), name="broker-quotes")

    async def stop(self) -> None:
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    def _hook_advance(self) -> None:
        """Replay the simulated steps once a clock advance has fired its timers (see the module doc)."""
        if self._unhook is None:
            self._unhook = self.core.clock.after_advance(self.catch_up)

    async def _tick_in_real_time(self) -> None:
        while True:
            await asyncio.sleep(self.interval_ms / 1000)
            await self.catch_up()

    async def catch_up(self) -> None:
        """Replay every step up to the clock's now, slice by slice, one unit per slice."""
        if self.interval_ms <= 0 or not self.core.running:
            return
        async with self._lock:
            until = self.core.clock.now_ms()
            while self.sim_ms + self.interval_ms <= until and self.core.running:
                work = Work()
                self._slice(until, work)
                try:
                    await self.core.commit(work)
                except ServiceUnavailable:
                    log.warning("simulated prices not committed: the broker is rebuilding its state")
                await asyncio.sleep(0)

    def _watch(self, name: str) -> tuple[float, float, float, float] | None:
        """How a symbol must be stepped: None (nothing depends on it: walk only), FULL (alerts or
        tick subscribers: the whole pipeline every step), else the bid/ask levels whose crossing
        activates a pending order or closes a position at SL/TP (checked every step)."""
        book = self.core.book
        if book.alerts_by_symbol[name] or self.live.tick_subs[name]:
            return FULL
        pend, pos = book.pending_by_symbol[name], book.positions_by_symbol[name]
        if not pend and not pos:
            return None
        bid_lo, bid_hi, ask_lo, ask_hi = -math.inf, math.inf, -math.inf, math.inf
        for t in pos.values():
            if t.cmd == BUY:
                bid_lo = max(bid_lo, t.sl) if t.sl else bid_lo
                bid_hi = min(bid_hi, t.tp) if t.tp else bid_hi
            else:
                ask_hi = min(ask_hi, t.sl) if t.sl else ask_hi
                ask_lo = max(ask_lo, t.tp) if t.tp else ask_lo
        for t in pend.values():
            p = t.open_price
            if t.cmd == BUY_LIMIT:
                ask_lo = max(ask_lo, p)
            elif t.cmd == SELL_LIMIT:
                bid_hi = min(bid_hi, p)
            elif t.cmd == BUY_STOP:
                ask_hi = min(ask_hi, p)
            else:
                bid_lo = max(bid_lo, p)
        return bid_lo, bid_hi, ask_lo, ask_hi

    def _slice(self, until: int, work: Work) -> None:
        """Steps from `sim_ms` towards `until`, for about SLICE_S of wall time."""
        interval = self.interval_ms
        started = time.perf_counter()
        core = self.core
        quotes = core.book.quotes
        try:
            while self.sim_ms + interval <= until:
                n = min(BATCH, (until - self.sim_ms) // interval)
                watched: list[_Walker] = []
                for sym in SYMBOLS:
                    levels = self._watch(sym.symbol)
                    if levels is None:
                        self._logs[sym.symbol] = y = self._leap(sym, n)
                        bid, ask = spread_around(sym, sym.mid * math.exp(y))
                        quotes[sym.symbol] = Quote(bid, ask, (self.sim_ms + n * interval) // 1000)
                    else:
                        watched.append(
                            _Walker(
                                sym,
                                levels,
                                self._logs[sym.symbol],
                                self._rngs[sym.symbol],
                                quotes[sym.symbol],
                            )
                        )
                for k in range(1, n + 1):
                    step_ms = self.sim_ms + k * interval
                    for w in watched:
                        w.y = y = PULL * w.y + w.scale * (w.rnd() - 0.5)
                        w.bid = bid = round(w.mid * math.exp(y) - w.half, w.digits)
                        w.ask = ask = round(bid + w.full, w.digits)
                        w.ms = step_ms
                        bid_lo, bid_hi, ask_lo, ask_hi = w.levels
                        if (
                            w.levels is FULL
                            or bid <= bid_lo
                            or bid >= bid_hi
                            or ask <= ask_lo
                            or ask >= ask_hi
                        ):
                            for other in watched:  # the pipeline reads the other symbols' quotes
                                if other is not w:
                                    quotes[other.name] = Quote(other.bid, other.ask, other.ms // 1000)
                            core.step_ms = step_ms
                            self.apply(w.sym, bid, ask, work, stop_outs=False)
                            core.step_ms = None
                            w.levels = self._watch(w.name) or IDLE
                self.sim_ms += n * interval
                for w in watched:
                    self._logs[w.name] = w.y
                    quotes[w.name] = Quote(w.bid, w.ask, w.ms // 1000)
                if core.book.open_logins:
                    core.step_ms = self.sim_ms
                    self.trading.stop_outs(work)
                    core.step_ms = None
                if time.perf_counter() - started > SLICE_S:
                    break
        finally:
            core.step_ms = None

    def _leap(self, sym: Symbol, steps: int) -> float:
        """The log-distance to the reference price `steps` steps on, in one draw (nothing saw
        the prices in between; a single step is drawn exactly as a watched symbol's step)."""
        y = self._logs[sym.symbol]
        rng = self._rngs[sym.symbol]
        if steps == 1:
            return PULL * y + sym.sigma * UNIT * (rng.random() - 0.5)
        decay = PULL**steps
        return decay * y + sym.sigma * math.sqrt((1 - decay * decay) / (1 - PULL * PULL)) * rng.gauss(
            0.0, 1.0
        )

    # --- control API ------------------------------------------------------------------------------
    async def set_prices(self, prices: list[tuple[Symbol, float, float]]) -> None:
        await self.catch_up()
        work = Work()
        for sym, bid, ask in prices:
            self._logs[sym.symbol] = math.log((bid + ask) / 2 / sym.mid)
            self.apply(sym, bid, ask, work)
        await self.core.commit(work)

    # --- the pipeline -------------------------------------------------------------------------------
    def apply(self, sym: Symbol, bid: float, ask: float, work: Work, *, stop_outs: bool = True) -> None:
        """One price change of `sym`, staged into `work` (stop-outs: see `_slice`)."""
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
        if stop_outs and book.open_logins:
            self.trading.stop_outs(work)
