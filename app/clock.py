"""The domain clock: one time source for every domain timer and lifetime.

Real mode follows wall time plus an offset; frozen mode stands still and moves only when
advanced. Timers (`call_at` / `call_later`) fire in due-time order: in real mode when wall time
reaches them, in both modes when `advance` passes them. While `advance` fires a timer the clock
reads that timer's due time, so a callback sees the instant it was scheduled for.

Invariant: `now_ms()` never decreases.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("refserver.clock")

TimerCallback = Callable[[], Awaitable[Any] | Any]

MAX_ADVANCE_MS = 366 * 86_400_000
"""The most one `advance` may move the clock (CONTRACT §6): larger is refused by the control API."""

YIELD_EVERY_S = 0.005
"""While firing timers, `advance` and `fire_due` give the event loop a turn at least this often."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


_iso_second: tuple[int, str] = (-(2**62), "")  # the last second formatted, and its text


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2025-03-15T09:00:00.000Z. The text of the last
    second formatted is kept (one tuple, replaced whole: safe from any thread), so the
    timestamps of one busy second share it."""
    global _iso_second
    sec, milli = divmod(ms, 1000)
    cached = _iso_second
    if cached[0] != sec:
        cached = _iso_second = (sec, datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{cached[1]}{milli:03d}Z"


@dataclass(order=True)
class Timer:
    due_ms: int
    order: int
    callback: TimerCallback = field(compare=False)
    name: str = field(default="", compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class DomainClock:
    def __init__(self, *, frozen: bool = False, start_ms: int | None = None) -> None:
        start = wall_ms() if start_ms is None else start_ms
        self._frozen = frozen
        self._fixed_ms = start
        self._offset_ms = start - wall_ms()
        self._last_ms = start
        self._timers: list[Timer] = []
        self._order = itertools.count()
        self._fire_lock: asyncio.Lock | None = None
        self._wakeup: asyncio.Event | None = None
        self._driver: asyncio.Task[None] | None = None
        self.on_change: Callable[[DomainClock], None] | None = None
        self._after_advance: list[Callable[[], Awaitable[None]]] = []

    # --- reading -----------------------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return self._frozen

    def now_ms(self) -> int:
        now = self._fixed_ms if self._frozen else wall_ms() + self._offset_ms
        if now < self._last_ms:
            return self._last_ms
        self._last_ms = now
        return now

    def snapshot(self) -> dict[str, Any]:
        now = self.now_ms()
        return {"now_ms": now, "now": iso_ms(now), "frozen": self._frozen}

    # --- changing ----------------------------------------------------------------------------
    def freeze(self) -> None:
        if not self._frozen:
            self._fixed_ms = self.now_ms()
            self._frozen = True
        self._changed()

    def resume(self) -> None:
        if self._frozen:
            self._offset_ms = self._fixed_ms - wall_ms()
            self._frozen = False
        self._changed()

    async def advance(self, ms: int) -> None:
        """Move the clock forward by `ms`, firing every timer that falls due, in time order.

        Between timers it yields to the event loop at least every `YIELD_EVERY_S` of work, so
        a long advance never holds up other requests for more than a few milliseconds."""
        if ms < 0:
            raise ValueError("the clock never moves backwards")
        if ms > MAX_ADVANCE_MS:
            raise ValueError(f"an advance is at most {MAX_ADVANCE_MS} ms")
        target = self.now_ms() + ms
        async with self._lock():
            turn = time.perf_counter()
            while self._timers and self._timers[0].due_ms <= target:
                timer = heapq.heappop(self._timers)
                if timer.cancelled:
                    continue
                self._set(max(timer.due_ms, self.now_ms()))
                await self._fire(timer)
                if time.perf_counter() - turn >= YIELD_EVERY_S:
                    await asyncio.sleep(0)
                    turn = time.perf_counter()
            self._set(target)
        self._changed()
        for hook in list(self._after_advance):
            try:
                await hook()
            except Exception:
                log.exception("after-advance hook %r failed", hook)

    def after_advance(self, hook: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Run `hook()` once every advance has fired its timers, before the advance returns (a
        simulator replays its steps in bulk up to the new now). Returns the unregistering call."""
        self._after_advance.append(hook)
        return lambda: self._after_advance.remove(hook) if hook in self._after_advance else None

    def _set(self, ms: int) -> None:
        if self._frozen:
            self._fixed_ms = max(self._fixed_ms, ms)
        else:
            self._offset_ms = max(self._offset_ms, ms - wall_ms())

    def _changed(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
        if self.on_change is not None:
            self.on_change(self)

    # --- timers ------------------------------------------------------------------------------
    def call_at(self, due_ms: int, callback: TimerCallback, *, name: str = "") -> Timer:
        timer = Timer(due_ms, next(self._order), callback, name)
        heapq.heappush(self._timers, timer)
        if self._wakeup is not None:
            self._wakeup.set()
        return timer

    def call_later(self, delay_ms: int, callback: TimerCallback, *, name: str = "") -> Timer:
        return self.call_at(self.now_ms() + delay_ms, callback, name=name)

    def cancel_all(self) -> None:
        for t in self._timers:
            t.cancelled = True
        self._timers.clear()

    def pending(self) -> list[Timer]:
        return sorted(t for t in self._timers if not t.cancelled)

    async def fire_due(self) -> int:
        """Fire every timer due at or before now; returns how many fired."""
        fired = 0
        async with self._lock():
            turn = time.perf_counter()
            while self._timers and self._timers[0].due_ms <= self.now_ms():
                timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    fired += 1
                    await self._fire(timer)
                    if time.perf_counter() - turn >= YIELD_EVERY_S:
                        await asyncio.sleep(0)
                        turn = time.perf_counter()
        return fired

    async def _fire(self, timer: Timer) -> None:
        try:
            result = timer.callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("timer %s failed", timer.name or timer.callback)

    def _lock(self) -> asyncio.Lock:
        if self._fire_lock is None:
            self._fire_lock = asyncio.Lock()
        return self._fire_lock

    # --- driver: fires due timers as (real or advanced) time reaches them ----------------------
    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._driver = asyncio.create_task(self._drive(), name="domain-clock")

    async def stop(self) -> None:
        if self._driver is not None:
            self._driver.cancel()
            try:
                await self._driver
            except asyncio.CancelledError:
                pass
            self._driver = None

    async def _drive(self) -> None:
        assert self._wakeup is not None
        while True:
            await self.fire_due()
            self._wakeup.clear()
            live = [t for t in self._timers[:1] if not t.cancelled]
            timeout: float | None = None
            if self._timers and not self._frozen:
                timeout = max(0.0, (self._timers[0].due_ms - self.now_ms()) / 1000)
                timeout = min(timeout, 1.0)
            elif self._timers and live and live[0].due_ms <= self.now_ms():
                timeout = 0.0
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass
