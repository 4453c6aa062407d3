"""The domain clock: frozen/real, advance fires timers in time order, never backwards."""

from __future__ import annotations

import pytest

from app.clock import DomainClock, iso_ms

pytestmark = pytest.mark.anyio


async def test_frozen_clock_stands_still_and_advance_moves_it() -> None:
    """A frozen clock reads the same until advanced, then exactly start + ms."""
    c = DomainClock(frozen=True, start_ms=1_000)
    assert c.now_ms() == 1_000
    await c.advance(250)
    assert c.now_ms() == 1_250


async def test_advance_fires_due_timers_in_time_order_at_their_due_time() -> None:
    """Timers fire in due order (not scheduling order), each seeing its own due time; later ones wait."""
    c = DomainClock(frozen=True, start_ms=0)
    fired: list[tuple[str, int]] = []
    c.call_at(300, lambda: fired.append(("c", c.now_ms())))
    c.call_at(100, lambda: fired.append(("a", c.now_ms())))

    async def b() -> None:
        fired.append(("b", c.now_ms()))
        c.call_at(250, lambda: fired.append(("b2", c.now_ms())))  # scheduled while firing

    c.call_at(200, b)
    late = c.call_at(1_000, lambda: fired.append(("late", c.now_ms())))
    cancelled = c.call_at(150, lambda: fired.append(("x", c.now_ms())))
    cancelled.cancel()
    await c.advance(500)
    assert fired == [("a", 100), ("b", 200), ("b2", 250), ("c", 300)]
    assert c.now_ms() == 500
    assert not late.cancelled and c.pending() == [late]


async def test_freeze_resume_never_moves_backwards() -> None:
    """Resuming continues from the frozen instant; negative advances are refused."""
    c = DomainClock(frozen=False)
    c.freeze()
    t = c.now_ms()
    await c.advance(60_000)
    c.resume()
    assert c.now_ms() >= t + 60_000
    with pytest.raises(ValueError):
        await c.advance(-1)


async def test_real_clock_driver_fires_a_due_timer() -> None:
    """In real mode the driver fires a timer when wall time reaches it."""
    import asyncio

    c = DomainClock(frozen=False)
    await c.start()
    done = asyncio.Event()
    c.call_later(20, done.set)
    await asyncio.wait_for(done.wait(), 2)
    await c.stop()


def test_iso_has_milliseconds_and_z() -> None:
    """Timestamps are ISO-8601 UTC with milliseconds."""
    assert iso_ms(1_742_029_200_007) == "2025-03-15T09:00:00.007Z"


async def test_long_advance_does_not_block_the_event_loop() -> None:
    """An advance firing many busy timers (~1 ms of CPU each, 400 ms in all) gives the event
    loop a turn every few ms: a concurrent task runs dozens of times meanwhile, typically
    within 50 ms (without the yields it runs once, after the whole 400 ms)."""
    import asyncio
    import time

    c = DomainClock(frozen=True, start_ms=0)

    def busy() -> None:
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass

    for i in range(400):
        c.call_at(1_000 * (i + 1), busy)
    gaps: list[float] = []
    done = asyncio.Event()

    async def watcher() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(watcher())
    await asyncio.sleep(0)
    await c.advance(86_400_000)
    done.set()
    await task
    assert c.now_ms() == 86_400_000 and not c.pending()
    assert len(gaps) >= 20  # ~80 turns expected; a loaded machine may merge a few
    assert sorted(gaps)[len(gaps) // 2] < 0.05


async def test_advance_past_the_cap_is_refused() -> None:
    """One advance moves at most 366 days: more raises before anything fires or moves."""
    from app.clock import MAX_ADVANCE_MS

    c = DomainClock(frozen=True, start_ms=0)
    fired: list[int] = []
    c.call_at(1, lambda: fired.append(1))
    with pytest.raises(ValueError):
        await c.advance(MAX_ADVANCE_MS + 1)
    assert c.now_ms() == 0 and fired == []
    await c.advance(MAX_ADVANCE_MS)
    assert c.now_ms() == MAX_ADVANCE_MS and fired == [1]
