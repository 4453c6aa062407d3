"""The Order Entry venue as the core sees it (`FamilyService`): it wires the nouns — agents,
admission, shard workers, the liquidity provider, queries, WebSocket tokens — around one
`VenueState` and one unit of work, and owns the write path and the lifecycle.

Write path (every change, admission or engine):

    stage the change on the in-memory venue (one synchronous step, on the event loop)
      → `flush()`: take the pending writes (events, changed orders, the accounts' dirty marks,
        id counters) and hand them to the unit of work as ONE unit, before any await
      → the writer thread commits domain rows and execution events together (DB-first)
      → the hub puts the events in the account's ring and pushes them to subscribers.

Because every step flushes before it yields, units reach the writer in the order the state
changed, and an account's events are numbered in the order they happened. If a commit fails,
the unit of work refuses further units and calls `reload`: the venue is rebuilt from the
tables (the database is the truth) and the shard workers restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from app.engine.errors import ServiceUnavailable
from app.engine.order_entry import auth, store, validate
from app.engine.order_entry.admission import Admission
from app.engine.order_entry.agents import Agents, ServiceStopping
from app.engine.order_entry.liquidity import LP_ACCOUNT, LiquidityProvider, enabled_by_default
from app.engine.order_entry.markets import BY_ID, MARKETS, SHARDS
from app.engine.order_entry.matching import CancelAll, Place, ShardEngine
from app.engine.order_entry.model import PENDING, AccountState, Agent, Order, VenueState, encode_event
from app.engine.order_entry.queries import Queries
from app.engine.order_entry.seed import DEMO_AGENTS, DEMO_FUNDS, demo_rows
from app.engine.order_entry.shards import ShardWorker
from app.engine.order_entry.ws_tokens import WsTokens
from app.engine.runtime import Runtime
from app.engine.streams import Emit

FAMILY = store.FAMILY
KIND = "execution"
MAX_ACTIONS = validate.MAX_ACTIONS

__all__ = ["DEMO_AGENTS", "FAMILY", "MAX_ACTIONS", "Agent", "OrderEntryService"]


class OrderEntryService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.clock = rt.clock
        self.box: auth.SecretBox | None = None
        self._ticket: asyncio.Future[None] | None = None
        # staged, waiting for the unit in flight: rows, events, and who waits for them
        self._rows: list[store.Rows] = []
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._committer: asyncio.Task[None] | None = None
        self._stmts = store.Statements(rt.db.placeholder)
        self.uow = rt.streams.unit_of_work(FAMILY, self._reload)
        self.venue = VenueState()
        self.engines: dict[int, ShardEngine] = {}
        self.workers: dict[int, ShardWorker] = {}
        self.lp = LiquidityProvider(self.venue, enabled_by_default(rt.settings, rt.seed_mode))
        self.agents = Agents(self.clock, self.venue, self.uow, self._box)
        self.tokens = WsTokens(self.clock, self.uow, rt.settings.oe_ws_token_ttl_ms)
        self.queries = Queries(rt.db, rt.streams, self.venue, self.engines)
        self.admission = Admission(self.venue, self.workers, self.clock, rt.db, self.uow, self._commit_step)
        self._build_engines()
        rt.streams.register_encoder(FAMILY, encode_event)

    # --- what other parts of the server build on (the FIX drop-copy) -------------------------------
    def agent_for_key(self, key_id: str) -> Agent | None:
        """The agent of an API key — `account`, `scopes`, `revoked`, `secret`,
        `verify_passphrase(p)` — or None when the key was never issued."""
        return self.agents.agent_for_key(key_id)

    def on_revoke(self, callback: Callable[[str], None]) -> None:
        """Call `callback(api_key_id)` on the event loop each time a key is revoked (after the
        revocation is committed)."""
        self.agents.on_revoke(callback)

    # --- lifecycle ---------------------------------------------------------------------------------
    def _build_engines(self) -> None:
        """Fresh books and workers over the venue (the dicts stay: the nouns hold them)."""
        self.engines.clear()
        self.engines.update(
            {s: ShardEngine(s, [m for m in MARKETS if m.shard == s], self.venue) for s in SHARDS}
        )
        self.workers.clear()
        self.workers.update(
            {s: ShardWorker(e, self.clock, self.flush, self.lp.quote) for s, e in self.engines.items()}
        )

    async def _box(self) -> auth.SecretBox:
        if self.box is None:
            self.box = auth.SecretBox(await self.rt.secrets.get("order_entry_agent_key"))
        return self.box

    async def _load(self) -> None:
        """Rebuild agents, accounts, balances, floors and books from the tables."""
        box = await self._box()
        rows = await self.rt.db.read(store.load_all)
        self.venue.reset()
        self._build_engines()
        st = self.venue
        self.agents.load(rows["agents"], box)
        for account, floor in rows["accounts"]:
            st.accounts[account] = AccountState(account, int(floor))
        for account, asset, free, reserved in rows["balances"]:
            acct = st.accounts.get(account) or st.accounts.setdefault(account, AccountState(account))
            acct.balances[asset] = [int(free), int(reserved)]
        pending: list[Order] = []
        for r in rows["orders"]:
            m = BY_ID[int(r[4])]
            o = Order(
                order_id=r[0],
                order_no=int(r[1]),
                account=r[2],
                client_order_id=r[3],
                market=m.market,
                side=r[5],
                price=int(r[6]),
                qty=int(r[7]),
                leaves_qty=int(r[8]),
                cum_qty=int(r[9]),
                status=r[10],
                tif=r[11],
                created_ms=int(r[12]),
                priority=int(r[13]),
                base=m.base_asset,
                quote=m.quote_asset,
                persisted=True,
            )
            st.track(o)
            if o.status == PENDING:
                pending.append(o)
            else:
                self.engines[m.shard].restore(o)
        counters = rows["counters"]
        st.next_order_no = max(int(rows["max_no"] or 0), int(counters.get("order", 0))) + 1
        st.next_fill_no = int(counters.get("fill", 0)) + 1
        # admitted before a stop but never matched: their workers take them first
        for o in sorted(pending, key=lambda o: o.order_no):
            self.workers[BY_ID[o.market].shard].queue.append(Place(o))

    def _start_workers(self) -> None:
        for w in self.workers.values():
            w.start()
            w.submit(None)

    async def start(self) -> None:
        self.lp.enabled = enabled_by_default(self.rt.settings, self.rt.seed_mode)
        await self._load()
        if self.lp.enabled:
            self.lp.fund()
        await self.flush()
        self._start_workers()

    async def _reload(self) -> None:
        """The unit of work's failure path: stop the workers, rebuild the venue from the tables,
        start the workers again. Whatever was staged and not committed is gone, as it must be."""
        for w in list(self.workers.values()):
            await w.cancel()
        committer = self._committer
        if committer is not None:  # a unit still in flight lands (or fails) before the tables are read
            await asyncio.wait([committer])
        self._fail_ticket()
        await self._load()
        if self.lp.enabled:
            self.lp.fund()  # written by the workers' first step
        self._start_workers()

    async def stop(self) -> None:
        for w in list(self.workers.values()):
            await w.stop()
        with contextlib.suppress(Exception):
            await self.flush()
        self.agents.end_sessions(ServiceStopping("server stopping"))

    async def wipe(self) -> None:
        def write(conn: Connection, emit: Emit) -> None:
            store.wipe(conn)

        def apply(_: None) -> None:
            self.venue.reset()
            self.agents.by_key = {}
            self._build_engines()

        await self.uow.commit(write, apply)

    async def seed(self, mode: str) -> None:
        if mode != "demo":
            return
        box = await self._box()
        existing = await self.rt.db.read(store.demo_agent_ids)
        rows, funded = demo_rows(existing, box, self.clock.now_ms())
        if not rows:
            return

        def write(conn: Connection, emit: Emit) -> None:
            store.insert_agents(conn, rows)
            for account in sorted(funded):
                store.add_funds(conn, account, DEMO_FUNDS)

        await self.uow.commit(write)

    async def drain(self) -> None:
        """Wait until every shard worker has processed and committed what it was given."""
        for _ in range(3):
            for w in list(self.workers.values()):
                await w.idle.wait()

    # --- the write path ----------------------------------------------------------------------------
    async def flush(self) -> None:
        """Hand everything staged so far over (call before any await); return once it is committed.

        Units of this family are committed one at a time, in the order they were staged: what is
        staged while a unit is in flight joins the next one. So a unit never commits on top of
        one that failed — everything staged after a failure is void, and `reload` rebuilds it."""
        pending = self.venue.take()
        ticket, self._ticket = self._ticket, None
        done = asyncio.get_running_loop().create_future()
        if pending:
            self._rows.append(store.pending_rows(pending, self.venue, self.clock.now_ms()))
            self._events.extend(pending.events)
        if ticket is not None:
            self._waiters.append(ticket)
        self._waiters.append(done)
        if self._committer is None:
            self._committer = asyncio.get_running_loop().create_task(self._commit_backlog(), name="oe-commit")
        await done

    async def _commit_backlog(self) -> None:
        stmts = self._stmts
        try:
            while self._waiters:
                rows, events, waiters = self._rows, self._events, self._waiters
                self._rows, self._events, self._waiters = [], [], []

                try:
                    if rows or events:
                        await self.uow.commit(_unit(stmts, rows, events))
                except BaseException as exc:
                    # void: this unit and whatever was staged on top of it meanwhile
                    self._rows, self._events = [], []
                    self._fail(waiters + self._waiters, exc)
                    self._waiters = []
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
        finally:
            self._committer = None

    @staticmethod
    def _fail(waiters: list[asyncio.Future[None]], exc: BaseException) -> None:
        err = (
            exc
            if isinstance(exc, ServiceUnavailable)
            else ServiceUnavailable(
                "the write failed; the batch was not executed", code="SERVICE_UNAVAILABLE"
            )
        )
        for w in waiters:
            if not w.done():
                w.set_exception(err)
                w.exception()  # marked retrieved: a waiter (if any) still gets it

    def _fail_ticket(self) -> None:
        ticket, self._ticket = self._ticket, None
        self._rows, self._events = [], []
        self._fail([*self._waiters, *([ticket] if ticket is not None else [])], ServiceUnavailable())
        self._waiters = []

    async def _commit_step(self, handed: bool) -> None:
        """Return once everything staged so far is durable. A shard worker that was handed
        work commits the admission's writes with its results (one unit); otherwise commit here."""
        if self._ticket is None:
            self._ticket = asyncio.get_running_loop().create_future()
        done = self._ticket
        if not handed or not all(w.running for w in self.workers.values()):
            await self.flush()
        await done

    # --- control API -------------------------------------------------------------------------------
    async def fund(self, account: str, balances: Any) -> dict[str, Any]:
        acct = validate.account(account)
        ledger = self.venue.ledger
        amounts = validate.funds(balances, lambda asset: ledger.free(acct, asset))
        self.uow.check()
        self.venue.account(acct)
        for asset, amount in amounts.items():
            ledger.credit(acct, asset, amount)
        await self.flush()
        return {"account": acct, "balances": self.queries.balances(acct)}

    async def set_liquidity(self, enabled: bool) -> None:
        self.lp.enabled = enabled
        if enabled:
            self.lp.fund()
            await self.flush()
            for w in self.workers.values():
                w.submit(None)
        else:
            for w in self.workers.values():
                w.submit(CancelAll(LP_ACCOUNT, None))

    # --- what the core asks of every family ---------------------------------------------------------
    def dashboard(self) -> dict[str, Any] | None:
        """The agent the live dashboard acts as: demo trader A, when the demo data is seeded."""
        if self.rt.seed_mode != "demo":
            return None
        d = DEMO_AGENTS[0]
        return {
            "apiKeyId": d.api_key_id,
            "apiSecret": d.api_secret,
            "apiPassphrase": d.api_passphrase,
            "account": d.account,
        }

    async def token(self, args: list[str]) -> str:
        """`refserver token order-entry [METHOD PATH [BODY]]`: curl -H flags signed by demo trader
        A (valid for 30 s). Order Entry has no bearer token: every call is HMAC-signed."""
        method = args[0].upper() if args else "GET"
        path = args[1] if len(args) > 1 else "/api/v1/order-entry/markets"
        body = args[2].encode() if len(args) > 2 else b""
        raw_path, _, query = path.partition("?")
        d = DEMO_AGENTS[0]
        now = str(time.time_ns() // 1_000_000)
        sig = auth.sign(
            d.api_secret, auth.canonical_string(d.api_key_id, now, now, method, raw_path, query, body)
        )
        headers = {
            "SC-Auth-Version": "2",
            "SC-Key": d.api_key_id,
            "SC-Nonce": now,
            "SC-Timestamp": now,
            "SC-Passphrase": d.api_passphrase,
            "SC-Signature": sig,
        }
        return " ".join(f"-H '{k}: {v}'" for k, v in headers.items())

    def credentials(self) -> list[str]:
        lines = ["order-entry agents (apiKeyId / apiSecret / apiPassphrase → account, scopes):"]
        for d in DEMO_AGENTS:
            lines.append(
                f"  {d.name}: {d.api_key_id} / {d.api_secret} / {d.api_passphrase} → {d.account} [{','.join(d.scopes)}]"
            )
        lines.append(
            f"  liquidity provider account {LP_ACCOUNT}: quotes every open market with --seed demo "
            "(REFSERVER_OE_LIQUIDITY=on|off, POST /_admin/order-entry/liquidity)"
        )
        return lines


def _unit(stmts: store.Statements, rows: list[store.Rows], events: list[tuple[str, dict[str, Any]]]) -> Any:
    """The write of one unit: the domain rows in staging order (a later upsert of the same row
    wins), then the execution events."""

    def write(conn: Connection, emit: Emit) -> None:
        for r in rows:
            stmts.write(conn, r)
        for account, body in events:
            emit(FAMILY, account, KIND, (account, body))

    return write
