"""The broker family's service: wires the nouns and implements the lifecycle (FamilyService).

    accounts   logins, profile, deposits, notifications, watch list
    sessions   sign-in, tokens, revocation; `live`: the registry of live sessions
    margin     conversion, profit, margin, account metrics
    trading    orders, closes, modifications, activation, expiration, stop-out
    pricing    the quote simulator, control-API prices, the price pipeline
    alerts     price alerts and their log
    scripts, settings, queries   stored per-login data and the `/trades` query

Every change goes through the family's unit of work (see `core.py`); when a commit fails, the
unit refuses further work and `reload` rebuilds the whole book from the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from app.engine.broker import seed, store
from app.engine.broker.accounts import Accounts
from app.engine.broker.alerts import Alerts
from app.engine.broker.core import Core
from app.engine.broker.margin import Margin
from app.engine.broker.model import ALERT_ACTIVE, Book, ServerReset, Trade
from app.engine.broker.pricing import Pricing
from app.engine.broker.queries import Queries
from app.engine.broker.scripts import Scripts
from app.engine.broker.sessions import Live, Sessions
from app.engine.broker.settings import Settings
from app.engine.broker.store import BROKER_TABLES
from app.engine.broker.trading import Trading
from app.engine.streams import Emit

if TYPE_CHECKING:
    from app.engine.runtime import Runtime


class BrokerService:
    def __init__(self, rt: Runtime) -> None:
        self.core = core = Core(rt, self.reload)
        self.streams = rt.streams
        self.live = Live()
        self.sessions = Sessions(core, self.live)
        self.margin = Margin(core)
        self.accounts = Accounts(core, self.margin, self.live, self.sessions.passwords)
        self.trading = Trading(core, self.margin)
        self.alerts = Alerts(core)
        self.pricing = Pricing(core, self.trading, self.alerts, self.live)
        self.scripts = Scripts(core)
        self.settings = Settings(core)
        self.queries = Queries(core, self.margin)
        core.settle_prices = self.pricing.catch_up
        self.loaded = False

    @property
    def quotes(self) -> dict[str, Any]:
        return self.core.book.quotes

    # --- the lifecycle the core drives (FamilyService) -----------------------------------------
    async def seed(self, mode: str) -> None:
        await self.ensure_loaded()
        if mode == "demo":
            await seed.seed_demo(self.accounts)

    def credentials(self) -> list[str]:
        return seed.credentials(self.accounts)

    def dashboard(self) -> dict[str, Any] | None:
        return seed.dashboard(self.accounts)

    async def token(self, args: list[str]) -> str:
        """`refserver token broker <login>`: a token for any existing login, no password needed."""
        await self.ensure_loaded()
        if self.sessions.codec is None:
            await self.sessions.start()
        if not args:
            raise SystemExit("usage: refserver token broker <login>")
        acc = self.accounts.get(int(args[0])) if args[0].isdigit() and len(args[0]) < 19 else None
        if acc is None:
            raise SystemExit(f"no broker login {args[0]}")
        return self.sessions.mint(acc)

    async def ensure_loaded(self) -> None:
        if not self.loaded:
            await self.reload()
            self.loaded = True

    async def reload(self) -> None:
        """Rebuild the book from the database (the unit of work's failure path, and the start)."""
        book = await self.core.db.read(store.load)
        self._disarm()
        book.quotes = self.core.book.quotes
        self.core.book = book
        self._arm()

    def _arm(self) -> None:
        if not self.core.running:
            return
        for item in self.core.book.timers():
            if isinstance(item, Trade):
                self.trading.arm_expiration(item)
            elif item.status == ALERT_ACTIVE:
                self.alerts.arm_expiry(item)

    def _disarm(self) -> None:
        for item in self.core.book.timers():
            if item.timer is not None:
                item.timer.cancel()
                item.timer = None

    async def start(self) -> None:
        await self.sessions.start()
        self.core.running = True
        self._arm()
        self.pricing.start()

    async def stop(self) -> None:
        self.core.running = False
        await self.pricing.stop()
        self._disarm()

    async def wipe(self) -> None:
        def write(conn: Connection, emit: Emit) -> None:
            for table in BROKER_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")

        await self.core.uow.commit(write)
        self.live.end_all(ServerReset("reset"))
        self.core.book = Book()
        self.pricing.reset()
        self.loaded = True


__all__ = ["BrokerService"]
