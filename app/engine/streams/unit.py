"""The one consistency rule between a family's memory and the database: the unit of work.

Every change a family makes to its state goes through `UnitOfWork.commit(write, apply)`:

    event loop                     writer thread                      event loop
    ──────────                     ─────────────                      ──────────
    decide (no await) ──commit──►  BEGIN; write(conn, emit): domain
                                   rows + events, one SAVEPOINT;
                                   seqs; COMMIT ───────────────────►  ring, subscribers
                                                                      apply(result): memory
                                                                      caller resumes

* **Memory follows the database.** `apply` runs on the event loop right after COMMIT, before
  the events reach the ring or any subscriber: no reader sees a change the database does not
  hold, and whoever receives an event finds the memory that goes with it.
* **Staged engines.** A family whose engine must compute on its live state (the matching
  engine's books, the broker's margin) stages that computation in one synchronous step and
  hands the unit over before its next `await`; nothing else runs between the two.
* **One failure policy.** If the commit fails for any reason but the unit's own refusal (a
  `DomainError` raised by `write`), or `apply` raises after the commit (`ApplyFailed`, whatever
  it raised: the commit stands, so memory no longer follows it), the caller gets
  `ServiceUnavailable`, further units of the family are refused at once, and the family's
  `reload` rebuilds its memory from the database — the database is the truth — retrying until
  it succeeds. Then units are accepted again. Nothing half-done survives in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.engine import Connection

from app.engine.errors import DomainError, ServiceUnavailable
from app.engine.streams.sequencer import Emit, Sequencer

log = logging.getLogger("refserver.unit")

T = TypeVar("T")
Reload = Callable[[], Awaitable[None]]


class UnitOfWork:
    """One per family: commits its units and owns its failure path."""

    def __init__(self, sequencer: Sequencer, family: str, reload: Reload, *, retry_s: float = 1.0) -> None:
        self.sequencer = sequencer
        self.family = family
        self.reload = reload
        self.retry_s = retry_s
        self.recovering: asyncio.Task[None] | None = None
        self.failures = 0

    def check(self) -> None:
        """Refuse at once while the family's memory is being rebuilt."""
        if self.recovering is not None:
            raise ServiceUnavailable(
                f"{self.family} is rebuilding its state after a failed write; retry shortly",
                code="SERVICE_UNAVAILABLE",
            )

    async def commit(
        self, write: Callable[[Connection, Emit], T], apply: Callable[[T], None] | None = None
    ) -> T:
        """Domain writes and their events in one transaction, then `apply(result)` to memory."""
        self.check()
        try:
            result = await self.sequencer.transact(write, apply)
        except (DomainError, asyncio.CancelledError):
            raise  # the unit's own refusal (or shutdown): nothing was committed, nothing staged leaks
        except Exception as exc:
            self.failed(exc)
            raise ServiceUnavailable(
                "the write failed and was not applied; retry shortly", code="SERVICE_UNAVAILABLE"
            ) from exc
        return result

    def failed(self, exc: BaseException) -> None:
        """The failure path: refuse new units and rebuild memory from the database."""
        self.failures += 1
        if self.recovering is not None:
            return
        log.error("%s: a commit failed (%r); rebuilding state from the database", self.family, exc)
        self.recovering = asyncio.get_running_loop().create_task(
            self._recover(), name=f"{self.family}-reload"
        )

    async def _recover(self) -> None:
        while True:
            try:
                await self.reload()
                break
            except Exception:
                log.exception("%s: rebuilding from the database failed; retrying", self.family)
                await asyncio.sleep(self.retry_s)
        self.recovering = None

    async def settled(self) -> None:
        """Wait until a running rebuild (if any) has finished."""
        task = self.recovering
        if task is not None:
            await asyncio.shield(task)


__all__ = ["Reload", "UnitOfWork"]
