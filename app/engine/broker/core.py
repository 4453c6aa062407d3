"""What every broker noun shares: the clock, the database, the family's unit of work and the
in-memory `Book`.

Concurrency model. The book is changed only on the event loop, in plain synchronous code: a
check and the change it allows happen with no `await` in between, so they are atomic. Each
change records its SQL and account events in a `Work` and hands it to the unit of work
(`commit`) in the same event-loop step — the broker is a staged engine: margin is computed on
live state. The sequencer's queue is FIFO, so rows and events commit in the order the changes
were made, and every `b`/`o`/`a`/`n` frame is committed before any subscriber sees it. Callers
answer only after the commit. If a commit fails, the unit refuses further work while the
service rebuilds the whole book from the database (`BrokerService.reload`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.engine.broker.model import Book
from app.engine.broker.store import FAMILY, Work
from app.engine.streams.unit import Reload

if TYPE_CHECKING:
    from app.engine.runtime import Runtime


class Core:
    def __init__(self, rt: Runtime, reload: Reload) -> None:
        self.rt = rt
        self.clock = rt.clock
        self.db = rt.db
        self.streams = rt.streams
        self.settings = rt.settings
        self.uow = rt.streams.unit_of_work(FAMILY, reload)
        self.book = Book()
        self.running = False  # timers are armed only while the service runs
        # while the simulator replays a step of the past, "now" is that step's time
        self.step_ms: int | None = None
        # bring simulated prices up to the clock before a domain timer acts (set by the service)
        self.settle_prices: Callable[[], Awaitable[None]] | None = None

    def now_s(self) -> int:
        ms = self.clock.now_ms() if self.step_ms is None else self.step_ms
        return ms // 1000

    async def before_timer(self) -> None:
        """Called first by every broker timer: prices reach the timer's instant before it acts."""
        if self.settle_prices is not None:
            await self.settle_prices()

    async def commit(self, work: Work) -> None:
        """Hand a staged change to the unit of work (call it in the step that staged it)."""
        if work:
            await self.uow.commit(work.run)
