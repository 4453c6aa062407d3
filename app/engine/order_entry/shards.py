"""The engine worker of one shard: the only code that calls `ShardEngine.apply` for the
shard's books. It takes what admission queued, applies it in one synchronous step, re-quotes
the liquidity provider, and hands the results to the unit of work before its next await."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from app.clock import DomainClock
from app.engine.order_entry.matching import Command, ShardEngine

log = logging.getLogger("refserver.order_entry")

STEP = 2000  # commands applied per step (one unit of work)


class ShardWorker:
    def __init__(
        self,
        engine: ShardEngine,
        clock: DomainClock,
        flush: Callable[[], Awaitable[None]],
        quote: Callable[[ShardEngine], None],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.flush = flush
        self.quote = quote  # the liquidity provider's refill of this shard
        self.queue: deque[Command | None] = deque()  # None: just re-quote the liquidity provider
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def submit(self, cmd: Command | None) -> None:
        self.queue.append(cmd)
        self.idle.clear()
        self.wake.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"oe-shard-{self.engine.shard}")

    async def stop(self) -> None:
        if self.running:  # let it finish and commit what it was given
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle.wait(), 10)
        await self.cancel()

    async def cancel(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self.task = None

    async def _run(self) -> None:
        engine, queue = self.engine, self.queue
        while True:
            if not queue:
                self.idle.set()
                await self.wake.wait()
                self.wake.clear()
                continue
            now = self.clock.now_ms()
            n = 0
            while queue and n < STEP:
                cmd = queue.popleft()
                n += 1
                if cmd is not None:
                    try:
                        engine.apply(cmd, now)
                    except Exception:  # a bug must not kill the shard
                        log.exception("engine failed on %r", cmd)
            self.quote(engine)
            try:
                await self.flush()
            except Exception:  # the unit of work's failure path rebuilds the venue
                log.warning("committing shard %d results failed", engine.shard)
            if not queue:
                self.idle.set()
