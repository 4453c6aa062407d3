"""The Order Entry venue: agents and HMAC auth, admission, one engine worker per shard, the
liquidity provider, DB-first persistence and start-up recovery.

Write path (every change, admission or engine):

    mutate the in-memory state (synchronously, on the event loop)
      → `flush()`: take the pending writes (events, changed orders, balances, floors,
        idempotency rows) and hand them to the streams sequencer as ONE unit, before any await
      → the writer thread commits domain rows and execution events together (DB-first)
      → the hub puts the events in the account's ring and pushes them to subscribers.

Because every mutating step flushes before it yields, units reach the writer in the order the
state changed, so the database always holds a prefix of the in-memory history, and an
account's events are numbered in the order they happened.

Admission (`submit_batch`) decides only what is known without the book and hands each
accepted action to its shard's worker; the worker is the only code that touches the books.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.clock import DomainClock, wall_ms
from app.engine.errors import Forbidden, InvalidInput, NotFound, ServiceUnavailable, Unauthorized
from app.engine.order_entry import auth
from app.engine.order_entry.book import PENDING, TERMINAL, Order
from app.engine.order_entry.markets import ASSETS, BY_ID, BY_SYMBOL, MARKETS, SHARDS, Market
from app.engine.order_entry.matching import Cancel, CancelAll, Command, Place, Replace, ShardEngine, new_order
from app.engine.order_entry.state import Pending, VenueState, exec_body
from app.engine.runtime import Runtime
from app.engine.streams import Emit

log = logging.getLogger("refserver.order_entry")

FAMILY = "order-entry"
KIND = "execution"
MAX_ACTIONS = 500
NONCE_MEMORY = 200_000  # per key, before nonces older than NONCE_HORIZON_MS are forgotten
NONCE_HORIZON_MS = 600_000
MAX_AMOUNT = 10**15  # price, qty: keeps price × qty inside a 64-bit column
MAX_BALANCE = 2**62
LP_ACCOUNT = "0x1100000000000000000000000000000000000001"
LP_LEVELS = 5
LP_LEVEL_QTY = 50  # × the market's minQty
LP_FUNDS = 10**15
ACCOUNT_RE = re.compile(r"^0x[0-9a-f]{40}$")
ASSET_RE = re.compile(r"^[A-Z0-9]{1,16}$")
SIG_BYTES_RE = re.compile(r"^0x[0-9a-fA-F]*$")
ACTIONS = {
    "SpotPlaceOrder": "trade",
    "SpotReplaceOrder": "trade",
    "SpotCancelOrder": "cancel",
    "SpotCancelAll": "cancel",
}
TIFS = ("gtc", "ioc", "fok", "post_only")


@dataclass(frozen=True)
class DemoAgent:
    api_key_id: str
    api_secret: str
    api_passphrase: str
    account: str
    scopes: tuple[str, ...]
    name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "apiKeyId": self.api_key_id,
            "apiSecret": self.api_secret,
            "apiPassphrase": self.api_passphrase,
            "account": self.account,
            "scopes": list(self.scopes),
            "name": self.name,
        }

    def __getitem__(self, key: str) -> Any:
        """Read like the control API's create answer: `agent["apiKeyId"]`."""
        return self.to_json()[key]


DEMO_AGENTS = (
    DemoAgent(
        "spk_demo_trader_a",
        "sps_demo_secret_trader_a",
        "spp_demo_pass_a",
        "0xa11ce00000000000000000000000000000000001",
        auth.SCOPES,
        "trader A",
    ),
    DemoAgent(
        "spk_demo_trader_b",
        "sps_demo_secret_trader_b",
        "spp_demo_pass_b",
        "0xb0b0000000000000000000000000000000000002",
        auth.SCOPES,
        "trader B",
    ),
    DemoAgent(
        "spk_demo_reader_a",
        "sps_demo_secret_reader_a",
        "spp_demo_pass_reader_a",
        "0xa11ce00000000000000000000000000000000001",
        ("read",),
        "read-only on trader A's account",
    ),
)
DEMO_FUNDS = {
    "USDC": 10_000_000_000,
    "USDT": 10_000_000_000,
    "BTC": 1_000,
    "ETH": 10_000,
    "SOL": 1_000_000,
    "AVAX": 1_000_000,
}


@dataclass(eq=False)
class Agent:
    api_key_id: str
    account: str
    secret: str  # decrypted in memory only; stored encrypted
    passphrase_hash: str
    scopes: frozenset[str]
    revoked: bool = False
    demo: bool = False
    nonces: dict[str, int] = field(default_factory=dict)  # SC-Nonce → wall ms it was used


@dataclass(eq=False)
class WsToken:
    token: str
    account: str
    api_key_id: str
    expires_ms: int
    used: bool = False


class Reject(Exception):
    """An action refused at admission."""

    def __init__(self, code: str, market: Market | None = None, coid: str | None = None) -> None:
        self.code = code
        self.market = market
        self.coid = coid


def _int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _amount(v: Any) -> TypeGuard[int]:
    return _int(v) and 0 < v <= MAX_AMOUNT


def normalise_account(account: str) -> str:
    return account.lower()


def valid_account(account: str) -> bool:
    return bool(ACCOUNT_RE.match(account.lower()))


# --- the engine worker of one shard ---------------------------------------------------------------
class ShardWorker:
    """Owns one shard's books: the only code that calls `ShardEngine.apply` for them."""

    def __init__(self, svc: OrderEntryService, engine: ShardEngine) -> None:
        self.svc = svc
        self.engine = engine
        self.queue: deque[Command | None] = deque()  # None: just re-quote the liquidity provider
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def submit(self, cmd: Command | None) -> None:
        self.svc.handed_to_workers = True
        self.queue.append(cmd)
        self.idle.clear()
        self.wake.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"oe-shard-{self.engine.shard}")

    async def stop(self) -> None:
        if self.running:  # let it finish and commit what it was given
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle.wait(), 10)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    async def _run(self) -> None:
        svc, engine, queue = self.svc, self.engine, self.queue
        while True:
            if not queue:
                self.idle.set()
                await self.wake.wait()
                self.wake.clear()
                continue
            now = svc.clock.now_ms()
            n = 0
            while queue and n < 2000:
                cmd = queue.popleft()
                n += 1
                if cmd is not None:
                    try:
                        engine.apply(cmd, now)
                    except Exception:  # a bug must not kill the shard
                        log.exception("engine failed on %r", cmd)
            if svc.liquidity:
                engine.refill(LP_ACCOUNT, LP_LEVELS, LP_LEVEL_QTY)
            try:
                await svc.flush()
            except Exception:
                log.exception("committing shard %d results failed", engine.shard)
            if not queue:
                self.idle.set()


# --- the service -----------------------------------------------------------------------------------
class OrderEntryService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        ctx = rt
        self.clock: DomainClock = ctx.clock
        self.liquidity = self.liquidity_default()
        self.box: auth.SecretBox | None = None
        self._ticket: asyncio.Future[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self.handed_to_workers = False
        self._reset_memory()
        self._sql = _Sql(ctx.db.placeholder)
        ctx.streams.register_encoder(FAMILY, encode_event)

    def liquidity_default(self) -> bool:
        """`REFSERVER_OE_LIQUIDITY` when given, else on exactly with the demo seed."""
        forced = self.rt.settings.oe_liquidity
        return forced == "on" if forced is not None else self.rt.seed_mode == "demo"

    def _reset_memory(self) -> None:
        self._reset_venue()
        self.ws_tokens: dict[str, WsToken] = {}
        # live WebSocket sessions per API key, closed at once when the key is revoked
        self.ws_sessions: dict[str, set[Any]] = {}

    def _reset_venue(self) -> None:
        """Everything the tables hold, as empty in-memory state (`load` fills it)."""
        self.state = VenueState()
        self.engines = {s: ShardEngine(s, [m for m in MARKETS if m.shard == s], self.state) for s in SHARDS}
        self.workers = {s: ShardWorker(self, e) for s, e in self.engines.items()}
        self.agents: dict[str, Agent] = {}
        self.accounts: set[str] = set()
        self.idempotency: dict[tuple[str, str], bytes] = {}
        self.recovering = False

    # --- lifecycle ---------------------------------------------------------------------------
    async def _box(self) -> auth.SecretBox:
        if self.box is None:
            self.box = auth.SecretBox(await self.rt.secrets.get("order_entry_agent_key"))
        return self.box

    async def load(self) -> None:
        """Rebuild agents, balances, floors and books from the tables (start-up recovery)."""
        box = await self._box()
        rows = await self.rt.db.read(_load_all)
        self._reset_venue()
        st = self.state
        for account, floor in rows["accounts"]:
            self.accounts.add(account)
            st.nonce_floor[account] = int(floor)
        for key_id, account, secret_enc, pp_hash, scopes, revoked, demo in rows["agents"]:
            self.agents[key_id] = Agent(
                key_id,
                account,
                box.decrypt(secret_enc),
                pp_hash,
                frozenset(s for s in scopes.split(",") if s),
                bool(revoked),
                bool(demo),
            )
        for account, asset, free, reserved in rows["balances"]:
            st.ledger.get(account, asset)[:] = [int(free), int(reserved)]
        pending: list[Order] = []
        max_no = int(rows["max_no"] or 0)
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
        st.next_order_no = max(max_no, int(counters.get("order", 0))) + 1
        st.next_fill_no = int(counters.get("fill", 0)) + 1
        for o in sorted(pending, key=lambda o: o.order_no):
            self.workers[BY_ID[o.market].shard].queue.append(Place(o))

    async def start(self) -> None:
        self.liquidity = self.liquidity_default()
        await self.load()
        if self.liquidity:
            self._fund_lp()
        await self.flush()
        for w in self.workers.values():
            w.start()
            w.submit(None)

    async def stop(self) -> None:
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
            with contextlib.suppress(BaseException):
                await self._recovery
        for w in self.workers.values():
            await w.stop()
        with contextlib.suppress(Exception):
            await self.flush()
        for sessions in list(self.ws_sessions.values()):
            for close in list(sessions):
                with contextlib.suppress(Exception):
                    close(1012, "server stopping")

    async def wipe(self) -> None:
        def run(conn: Connection, emit: Emit) -> None:
            for t in (
                "oe_idempotency",
                "oe_orders",
                "oe_balances",
                "oe_agents",
                "oe_accounts",
                "oe_counters",
            ):
                conn.exec_driver_sql(f"DELETE FROM {t}")

        await self.rt.streams.transact(run)
        self._reset_memory()

    def _fund_lp(self) -> None:
        self._ensure_account(LP_ACCOUNT)
        for asset in ASSETS:
            have = self.state.ledger.get(LP_ACCOUNT, asset)
            if have[0] < LP_FUNDS // 10:
                self.state.ledger.credit(LP_ACCOUNT, asset, LP_FUNDS - have[0])

    async def set_liquidity(self, enabled: bool) -> None:
        self.liquidity = enabled
        if enabled:
            self._fund_lp()
            await self.flush()
            for w in self.workers.values():
                w.submit(None)
        else:
            for w in self.workers.values():
                w.submit(CancelAll(LP_ACCOUNT, None))

    async def drain(self) -> None:
        """Wait until every shard worker has processed and committed what it was given."""
        for _ in range(3):
            for w in self.workers.values():
                await w.idle.wait()

    # --- seed ----------------------------------------------------------------------------------
    async def seed(self, mode: str) -> None:
        if mode != "demo":
            return
        box = await self._box()
        existing = await self.rt.db.read(
            lambda c: {
                r[0] for r in c.execute(text("SELECT api_key_id FROM oe_agents WHERE demo = :t"), {"t": True})
            }
        )
        now = self.clock.now_ms()
        funded: set[str] = set()
        rows = []
        for d in DEMO_AGENTS:
            if d.api_key_id in existing:
                continue
            rows.append(
                {
                    "k": d.api_key_id,
                    "a": d.account,
                    "s": box.encrypt(d.api_secret),
                    "p": box.hash_passphrase(d.api_passphrase),
                    "sc": ",".join(d.scopes),
                    "now": now,
                }
            )
            if d.account not in funded and "trade" in d.scopes:
                funded.add(d.account)

        def write(conn: Connection, emit: Emit) -> None:
            for r in rows:
                conn.execute(
                    text(
                        "INSERT INTO oe_agents (api_key_id, account, secret_enc, passphrase_hash, scopes, revoked, demo, created_ms) "
                        "VALUES (:k, :a, :s, :p, :sc, :f, :t, :now)"
                    ),
                    {**r, "f": False, "t": True},
                )
            for account in funded:
                conn.execute(
                    text(
                        "INSERT INTO oe_accounts (account, nonce_floor, created_ms) VALUES (:a, 0, :now) "
                        "ON CONFLICT (account) DO NOTHING"
                    ),
                    {"a": account, "now": now},
                )
                for asset, amount in DEMO_FUNDS.items():
                    conn.execute(
                        text(
                            "INSERT INTO oe_balances (account, asset, free, reserved) VALUES (:a, :s, :f, 0) "
                            "ON CONFLICT (account, asset) DO UPDATE SET free = oe_balances.free + excluded.free"
                        ),
                        {"a": account, "s": asset, "f": amount},
                    )

        if rows:
            await self.rt.streams.transact(write)

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

    # --- the write path ------------------------------------------------------------------------
    async def flush(self) -> None:
        """Hand every pending write to the sequencer as one unit (call before any await)."""
        pending = self.state.take()
        ticket, self._ticket = self._ticket, None
        try:
            if self.recovering:
                raise ServiceUnavailable(
                    "order entry is recovering from a failed write", code="SERVICE_UNAVAILABLE"
                )
            if pending or self.state.ledger.dirty:
                params = self._params(pending)
                sql = self._sql

                def write(conn: Connection, emit: Emit) -> None:
                    sql.write(conn, params)
                    for account, body in pending.events:
                        emit(FAMILY, account, KIND, (account, body))

                await self.rt.streams.transact(write)
        except BaseException as exc:
            if ticket is not None and not ticket.done():
                ticket.set_exception(
                    ServiceUnavailable(
                        "the write failed; the batch was not executed", code="SERVICE_UNAVAILABLE"
                    )
                )
                ticket.exception()  # marked retrieved: the waiter (if any) re-raises it
            if isinstance(exc, Exception) and not self.recovering:
                self._start_recovery(exc)
            raise
        if ticket is not None and not ticket.done():
            ticket.set_result(None)

    def _start_recovery(self, exc: Exception) -> None:
        """A commit failed: memory is ahead of the database. Stop writing at once, then rebuild
        the venue from the tables (the database is the truth) and carry on."""
        log.error("order entry: a commit failed (%r); rebuilding state from the database", exc)
        self.recovering = True
        self._recovery = asyncio.get_running_loop().create_task(self._recover(), name="oe-recover")

    async def _recover(self) -> None:
        me = asyncio.current_task()
        tasks = [w.task for w in self.workers.values() if w.task is not None and w.task is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ticket, self._ticket = self._ticket, None
        if ticket is not None and not ticket.done():
            ticket.set_exception(ServiceUnavailable("the write failed; the batch was not executed"))
            ticket.exception()
        while True:
            try:
                await self.load()  # resets `recovering`
                if self.liquidity:
                    self._fund_lp()
                await self.flush()
                break
            except Exception:
                log.exception("order entry: rebuilding from the database failed; retrying")
                self.recovering = True
                await asyncio.sleep(1)
        for w in self.workers.values():
            w.start()
            w.submit(None)

    def committed(self) -> asyncio.Future[None]:
        """A future resolved when everything pending now is committed (by whoever flushes next)."""
        if self._ticket is None:
            self._ticket = asyncio.get_running_loop().create_future()
        return self._ticket

    def _params(self, pending: Pending) -> dict[str, Any]:
        st = self.state
        ledger = st.ledger
        balances = [(a, s, *ledger.balances[a][s]) for a, s in ledger.dirty]
        ledger.dirty = set()
        orders = []
        for o in pending.orders.values():
            if o.status in TERMINAL and not o.persisted:
                continue  # born and finished since the last commit: its events tell it all
            o.persisted = True
            orders.append(
                (
                    o.order_id,
                    o.order_no,
                    o.account,
                    o.client_order_id,
                    o.market,
                    o.side,
                    o.price,
                    o.qty,
                    o.leaves_qty,
                    o.cum_qty,
                    o.status,
                    o.tif,
                    o.created_ms,
                    o.priority,
                )
            )
        floors = [(a, st.nonce_floor.get(a, 0), self.clock.now_ms()) for a in pending.floors]
        return {
            "balances": balances,
            "orders": orders,
            "floors": floors,
            "idempotency": pending.idempotency,
            "counters": [("fill", st.next_fill_no - 1), ("order", st.next_order_no - 1)]
            if pending.counters
            else [],
        }

    def _ensure_account(self, account: str) -> None:
        if account not in self.accounts:
            self.accounts.add(account)
            self.state.nonce_floor.setdefault(account, 0)
            self.state.pending.floors.add(account)

    # --- agents (control API) ------------------------------------------------------------------
    async def create_agent(self, scopes: list[str] | None, account: str | None) -> dict[str, Any]:
        if scopes is None:
            scopes = list(auth.SCOPES)
        if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
            raise InvalidInput.field("scopes", f"must be a non-empty list of {', '.join(auth.SCOPES)}")
        bad = [s for s in scopes if s not in auth.SCOPES]
        if bad:
            raise InvalidInput.field("scopes", f"unknown scope {bad[0]!r}; one of {', '.join(auth.SCOPES)}")
        if account is None:
            account = auth.new_account()
        elif not isinstance(account, str) or not valid_account(account):
            raise InvalidInput.field("account", "must be 0x followed by 40 hex digits")
        account = normalise_account(account)
        box = await self._box()
        key_id, secret, passphrase = auth.new_credentials()
        scopes = [s for s in auth.SCOPES if s in scopes]
        agent = Agent(key_id, account, secret, box.hash_passphrase(passphrase), frozenset(scopes))
        enc = box.encrypt(secret)
        now = self.clock.now_ms()

        def write(conn: Connection, emit: Emit) -> None:
            conn.execute(
                text(
                    "INSERT INTO oe_agents (api_key_id, account, secret_enc, passphrase_hash, scopes, revoked, demo, created_ms) "
                    "VALUES (:k, :a, :s, :p, :sc, :f, :f, :now)"
                ),
                {
                    "k": key_id,
                    "a": account,
                    "s": enc,
                    "p": agent.passphrase_hash,
                    "sc": ",".join(scopes),
                    "f": False,
                    "now": now,
                },
            )

        self._ensure_account(account)
        self.agents[key_id] = agent
        await self.flush()
        await self.rt.streams.transact(write)
        return {
            "apiKeyId": key_id,
            "apiSecret": secret,
            "apiPassphrase": passphrase,
            "account": account,
            "scopes": scopes,
        }

    async def revoke_agent(self, key_id: str) -> dict[str, Any]:
        agent = self.agents.get(key_id)
        if agent is None:
            raise NotFound(f"unknown apiKeyId {key_id!r}")
        agent.revoked = True  # at once, before the commit: no request passes after this line

        def write(conn: Connection, emit: Emit) -> None:
            conn.execute(
                text("UPDATE oe_agents SET revoked = :t WHERE api_key_id = :k"), {"t": True, "k": key_id}
            )

        for tok in [t for t in self.ws_tokens.values() if t.api_key_id == key_id]:
            self.ws_tokens.pop(tok.token, None)
        for close in list(self.ws_sessions.get(key_id, ())):
            with contextlib.suppress(Exception):
                close(4401, "api key revoked")
        await self.rt.streams.transact(write)
        return {"apiKeyId": key_id, "account": agent.account, "revoked": True}

    async def fund(self, account: str, balances: Any) -> dict[str, Any]:
        if not valid_account(account):
            raise InvalidInput.field("account", "must be 0x followed by 40 hex digits")
        account = normalise_account(account)
        if not isinstance(balances, dict) or not balances:
            raise InvalidInput.field("balances", 'must be an object {"ASSET": integer}')
        ledger = self.state.ledger
        for asset, amount in balances.items():
            if not ASSET_RE.match(asset):
                raise InvalidInput.field(
                    f"balances.{asset}", f"an asset is 1-16 of A-Z 0-9 (the markets use {', '.join(ASSETS)})"
                )
            if not _int(amount):
                raise InvalidInput.field(f"balances.{asset}", "must be an integer (smallest units)")
            after = ledger.free(account, asset) + amount
            if after < 0 or after > MAX_BALANCE:
                raise InvalidInput.field(f"balances.{asset}", "the free balance would leave 0..2^62")
        self._ensure_account(account)
        for asset, amount in balances.items():
            ledger.credit(account, asset, amount)
        await self.flush()
        return {"account": account, "balances": self.balances_json(account)}

    # --- auth ----------------------------------------------------------------------------------
    def authenticate(self, method: str, path: str, raw_query: str, headers: Any, body: bytes) -> Agent:
        """Check the SC-* headers (CONTRACT §4.1); raise 401 with the precise code."""
        version = headers.get("sc-auth-version")
        key = headers.get("sc-key")
        nonce = headers.get("sc-nonce")
        ts = headers.get("sc-timestamp")
        passphrase = headers.get("sc-passphrase")
        signature = headers.get("sc-signature")
        if not (version and key and nonce and ts and passphrase and signature):
            missing = [
                n
                for n, v in (
                    ("SC-Auth-Version", version),
                    ("SC-Key", key),
                    ("SC-Nonce", nonce),
                    ("SC-Timestamp", ts),
                    ("SC-Passphrase", passphrase),
                    ("SC-Signature", signature),
                )
                if not v
            ]
            raise Unauthorized(f"missing auth header(s): {', '.join(missing)}", code="MISSING_AUTH")
        if version.strip() != "2":
            raise Unauthorized("SC-Auth-Version must be 2", code="MISSING_AUTH")
        if not nonce.isdigit():
            raise Unauthorized("SC-Nonce must be an integer (ms)", code="MISSING_AUTH")
        if not ts.lstrip("-").isdigit():
            raise Unauthorized("SC-Timestamp must be an integer (ms)", code="MISSING_AUTH")
        agent = self.agents.get(key)
        if agent is None or agent.revoked:
            raise Unauthorized("unknown or revoked API key", code="INVALID_KEY")
        assert self.box is not None
        if not self.box.passphrase_ok(agent.passphrase_hash, passphrase):
            raise Unauthorized("wrong passphrase", code="INVALID_PASSPHRASE")
        canonical = auth.canonical_string(key, nonce, ts, method, path, raw_query, body)
        if not auth.signature_ok(agent.secret, canonical, signature):
            raise Unauthorized("signature does not match the canonical request", code="INVALID_SIGNATURE")
        if abs(wall_ms() - int(ts)) > auth.SKEW_MS:
            raise Unauthorized("SC-Timestamp is more than 30 s from server time", code="TIMESTAMP_SKEW")
        nonces = agent.nonces
        if nonce in nonces:
            raise Unauthorized("SC-Nonce already used by this key", code="NONCE_REPLAY")
        now = wall_ms()
        nonces[nonce] = now
        if len(nonces) > NONCE_MEMORY:
            # bounded memory: forget nonces used long ago (far outside the ±30 s timestamp window,
            # so a captured request can never be replayed once its nonce is forgotten)
            horizon = now - NONCE_HORIZON_MS
            for old_nonce in [n for n, t in nonces.items() if t < horizon]:
                del nonces[old_nonce]
        return agent

    @staticmethod
    def require_scope(agent: Agent, scope: str) -> None:
        if scope not in agent.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope", code="SCOPE_REQUIRED")

    @staticmethod
    def require_account(agent: Agent, account: str) -> str:
        acct = normalise_account(account)
        if acct != agent.account:
            raise Forbidden("this account is not the API key's account", code="FORBIDDEN")
        return acct

    # --- reads ---------------------------------------------------------------------------------
    def balances_json(self, account: str) -> dict[str, dict[str, int]]:
        acct = self.state.ledger.balances.get(account, {})
        return {asset: {"free": b[0], "reserved": b[1]} for asset, b in sorted(acct.items())}

    def bootstrap(self, account: str) -> dict[str, Any]:
        st = self.state
        open_orders = st.open_by_account.get(account, {})
        reserved = {a: b["reserved"] for a, b in self.balances_json(account).items() if b["reserved"]}
        return {
            "account": account,
            "balances": self.balances_json(account),
            "risk": {"openOrders": len(open_orders), "reserved": reserved, "maxActionsPerBatch": MAX_ACTIONS},
            "nonceFloor": st.nonce_floor.get(account, 0),
        }

    async def open_orders(self, account: str) -> tuple[int, list[dict[str, Any]]]:
        """The committed open orders and the stream seq they include, from one DB snapshot."""
        is_pg = not self.rt.db.is_sqlite

        def run(conn: Connection) -> tuple[int, list[dict[str, Any]]]:
            if is_pg:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            head_row = conn.execute(
                text("SELECT head FROM stream_heads WHERE family = :f AND stream = :s"),
                {"f": FAMILY, "s": account},
            ).first()
            rows = conn.execute(
                text(
                    "SELECT order_id, client_order_id, market, side, price, qty, leaves_qty, cum_qty, status, tif, "
                    "created_ms FROM oe_orders WHERE account = :a AND status IN ('NEW', 'PARTIALLY_FILLED', 'REPLACED') "
                    "ORDER BY order_no"
                ),
                {"a": account},
            ).all()
            orders = [
                {
                    "orderId": r[0],
                    "clientOrderId": r[1],
                    "market": int(r[2]),
                    "side": r[3],
                    "price": int(r[4]),
                    "qty": int(r[5]),
                    "leavesQty": int(r[6]),
                    "cumQty": int(r[7]),
                    "status": r[8],
                    "timeInForce": r[9],
                    "createdTsMs": int(r[10]),
                }
                for r in rows
            ]
            return (int(head_row[0]) if head_row else 0), orders

        return await self.rt.db.read(run)

    def book_view(self, market_ref: str, depth: int = 20) -> dict[str, Any]:
        """Aggregated price levels of one market, best first: {"bids": [[price, qty]], "asks": ...}.
        Read-only: only the shard's worker changes the book."""
        m = BY_SYMBOL.get(market_ref) or (BY_ID.get(int(market_ref)) if market_ref.isdigit() else None)
        if m is None:
            raise NotFound(f"unknown market {market_ref!r}")
        book = self.engines[m.shard].books[m.market]

        def levels(prices: list[int], side: Any) -> list[list[int]]:
            return [[p, sum(o.leaves_qty for o in side.levels[p])] for p in prices[:depth]]

        return {
            "market": m.market,
            "symbol": m.symbol,
            "bids": levels(book.bids.prices[::-1], book.bids),
            "asks": levels(book.asks.prices, book.asks),
        }

    # --- WS tokens -----------------------------------------------------------------------------
    def issue_ws_token(self, agent: Agent) -> WsToken:
        now = self.clock.now_ms()
        if len(self.ws_tokens) > 10_000:
            for t in [t for t in self.ws_tokens.values() if t.used or t.expires_ms < now]:
                self.ws_tokens.pop(t.token, None)
        tok = WsToken(
            "wst_" + secrets.token_urlsafe(24),
            agent.account,
            agent.api_key_id,
            now + self.rt.settings.oe_ws_token_ttl_ms,
        )
        self.ws_tokens[tok.token] = tok
        return tok

    def consume_ws_token(self, token: Any, account: str) -> tuple[WsToken | None, str]:
        """(token, "") when it opens `account`'s stream, else (None, why). Single use."""
        if not isinstance(token, str) or not token:
            return None, "missing token"
        tok = self.ws_tokens.get(token)
        if tok is None:
            return None, "unknown token"
        if tok.used:
            return None, "token already used"
        if tok.expires_ms <= self.clock.now_ms():
            return None, "token expired"
        agent = self.agents.get(tok.api_key_id)
        if agent is None or agent.revoked:
            return None, "api key revoked"
        if normalise_account(account) != tok.account:
            tok.used = True
            return None, "token is for another account"
        tok.used = True
        return tok, ""

    # --- the signed batch ------------------------------------------------------------------------
    async def submit_batch(self, agent: Agent, body: bytes) -> bytes:
        try:
            batch = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidInput.field("body", "must be a JSON batch object", code="INVALID_REQUEST") from None
        if not isinstance(batch, dict):
            raise InvalidInput.field("body", "must be a JSON object", code="INVALID_REQUEST")
        version = batch.get("version")
        if not _int(version) or version != 1:
            raise InvalidInput.field("version", "must be 1", code="INVALID_REQUEST")
        actions = batch.get("actions")
        if not isinstance(actions, list):
            raise InvalidInput.field("actions", "must be a list of actions", code="INVALID_REQUEST")
        if not actions or len(actions) > MAX_ACTIONS:
            raise InvalidInput.field("actions", f"must hold 1..{MAX_ACTIONS} actions", code="INVALID_REQUEST")
        key = batch.get("idempotencyKey")
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
            raise InvalidInput.field(
                "idempotencyKey", "must be a string of 1..200 characters", code="INVALID_REQUEST"
            )
        # authorisation over the whole batch: every payload is the key's account, every action in scope
        for item in actions:
            payload = item.get("payload") if isinstance(item, dict) else None
            if not isinstance(payload, dict):
                continue
            acct = payload.get("account")
            if isinstance(acct, str) and normalise_account(acct) != agent.account:
                raise Forbidden("an action's payload.account is not the API key's account", code="FORBIDDEN")
            action = payload.get("action")
            if isinstance(action, dict) and len(action) == 1:
                need = ACTIONS.get(next(iter(action)))
                if need is not None:
                    self.require_scope(agent, need)
        if not agent.scopes & {"trade", "cancel"}:
            self.require_scope(agent, "trade")
        account = agent.account
        if key is not None:
            cached = self.idempotency.get((account, key))
            if cached is None:
                cached = await self.rt.db.read(_idempotency_lookup(account, key))
                if cached is not None:
                    self.idempotency[(account, key)] = cached
                else:
                    cached = self.idempotency.get((account, key))  # a twin finished meanwhile
            if cached is not None:
                return cached
        if self.recovering:
            raise ServiceUnavailable(
                "order entry is recovering from a failed write", code="SERVICE_UNAVAILABLE"
            )
        # --- from here to flush(): no await (admission is atomic) ---
        self.handed_to_workers = False
        now = self.clock.now_ms()
        self._ensure_account(account)
        results = [self._admit(i, item, account, now) for i, item in enumerate(actions)]
        response = orjson.dumps({"idempotencyKey": key, "results": results})
        if key is not None:
            self.idempotency[(account, key)] = response
            self.state.pending.idempotency.append((account, key, response, now))
            if len(self.idempotency) > 100_000:
                for k in list(self.idempotency)[:50_000]:
                    del self.idempotency[k]
        # the ack waits for its admission writes to be durable; a shard worker that was handed
        # work commits them with its results (one transaction), otherwise commit them here
        done = self.committed()
        if not self.handed_to_workers or not all(w.running for w in self.workers.values()):
            await self.flush()
        await done
        return response

    def _admit(self, index: int, item: Any, account: str, now: int) -> dict[str, Any]:
        st = self.state
        payload = item.get("payload") if isinstance(item, dict) else None
        try:
            if not isinstance(payload, dict):
                raise Reject("INVALID_ORDER")
            nonce = payload.get("nonce")
            if not (
                isinstance(payload.get("account"), str)
                and _int(nonce)
                and nonce > 0
                and _int(payload.get("ts"))
            ):
                raise Reject("INVALID_ORDER")
            if nonce <= st.nonce_floor.get(account, 0):
                raise Reject("NONCE_REPLAY")
            st.nonce_floor[account] = nonce
            st.pending.floors.add(account)
            sig = item.get("signature")
            if not (
                isinstance(sig, dict)
                and isinstance(sig.get("scheme"), str)
                and sig["scheme"]
                and isinstance(sig.get("bytes"), str)
                and SIG_BYTES_RE.match(sig["bytes"])
            ):
                raise Reject("INVALID_ORDER")
            action = payload.get("action")
            if not isinstance(action, dict) or len(action) != 1:
                raise Reject("INVALID_ORDER")
            ((tag, body),) = action.items()
            if not isinstance(body, dict):
                raise Reject("INVALID_ORDER")
            if tag == "SpotPlaceOrder":
                return self._admit_place(index, body, account, now)
            if tag == "SpotCancelOrder":
                return self._admit_cancel(index, body, account)
            if tag == "SpotReplaceOrder":
                return self._admit_replace(index, body, account)
            if tag == "SpotCancelAll":
                return self._admit_cancel_all(index, body, account)
            raise Reject("INVALID_ORDER")
        except Reject as r:
            m = r.market
            st.emit(
                account,
                exec_body(
                    status="REJECTED",
                    market=m.market if m else None,
                    shard=m.shard if m else None,
                    engine_ts=now,
                    client_order_id=r.coid,
                    reject_code=r.code,
                ),
            )
            return {"index": index, "accepted": False, "rejectCode": r.code}

    @staticmethod
    def _market(body: dict[str, Any], coid: str | None, *, optional: bool = False) -> Market | None:
        ref = body.get("market")
        if ref is None and optional:
            return None
        if _int(ref):
            m = BY_ID.get(ref)
        elif isinstance(ref, str):
            m = BY_SYMBOL.get(ref) or (BY_ID.get(int(ref)) if ref.isdigit() else None)
        else:
            raise Reject("INVALID_ORDER", None, coid)
        if m is None:
            raise Reject("UNKNOWN_MARKET", None, coid)
        return m

    @staticmethod
    def _coid(body: dict[str, Any]) -> str | None:
        coid = body.get("clientOrderId")
        if coid is None:
            return None
        if not isinstance(coid, str) or not 0 < len(coid) <= 64:
            raise Reject("INVALID_ORDER")
        return coid

    def _admit_place(self, index: int, body: dict[str, Any], account: str, now: int) -> dict[str, Any]:
        st = self.state
        coid = self._coid(body)
        m = self._market(body, coid)
        assert m is not None
        side, price, qty = body.get("side"), body.get("price"), body.get("qty")
        tif = body.get("timeInForce", "gtc")
        if side not in ("Bid", "Ask") or not _amount(price) or not _amount(qty) or tif not in TIFS:
            raise Reject("INVALID_ORDER", m, coid)
        if qty % m.min_qty:
            raise Reject("INVALID_ORDER", m, coid)
        if m.status != "open":
            raise Reject("MARKET_HALTED", m, coid)
        if coid is not None and st.find(account, None, coid) is not None:
            raise Reject("DUPLICATE_CLIENT_ORDER_ID", m, coid)
        order = new_order(st, account, coid, m, side, price, qty, tif, now)
        if not st.ledger.reserve(account, order.reserve_asset, order.reserved):
            raise Reject("INSUFFICIENT_BALANCE", m, coid)
        st.track(order)
        st.touch(order)
        self.workers[m.shard].submit(Place(order))
        return {"index": index, "accepted": True, "orderId": order.order_id, "clientOrderId": coid}

    def _admit_cancel(self, index: int, body: dict[str, Any], account: str) -> dict[str, Any]:
        coid = self._coid(body)
        m = self._market(body, coid)
        assert m is not None
        oid = body.get("orderId")
        if oid is not None and not isinstance(oid, str):
            raise Reject("INVALID_ORDER", m, coid)
        if oid is None and coid is None:
            raise Reject("INVALID_ORDER", m, coid)
        target = self.state.find(account, oid, coid)
        if target is not None:
            oid, coid = target.order_id, target.client_order_id
        self.workers[m.shard].submit(Cancel(account, m.market, oid, coid))
        return {"index": index, "accepted": True, "orderId": oid, "clientOrderId": coid}

    def _admit_replace(self, index: int, body: dict[str, Any], account: str) -> dict[str, Any]:
        m = self._market(body, None)
        assert m is not None
        oid, price, qty = body.get("orderId"), body.get("price"), body.get("qty")
        if not isinstance(oid, str) or (price is None and qty is None):
            raise Reject("INVALID_ORDER", m)
        if (price is not None and not _amount(price)) or (
            qty is not None and (not _amount(qty) or qty % m.min_qty)
        ):
            raise Reject("INVALID_ORDER", m)
        if m.status != "open":
            raise Reject("MARKET_HALTED", m)
        target = self.state.find(account, oid, None)
        coid = target.client_order_id if target is not None else None
        self.workers[m.shard].submit(Replace(account, m.market, oid, price, qty))
        return {"index": index, "accepted": True, "orderId": oid, "clientOrderId": coid}

    def _admit_cancel_all(self, index: int, body: dict[str, Any], account: str) -> dict[str, Any]:
        m = self._market(body, None, optional=True)
        if m is None:
            for w in self.workers.values():
                w.submit(CancelAll(account, None))
        else:
            self.workers[m.shard].submit(CancelAll(account, m.market))
        return {"index": index, "accepted": True, "orderId": None, "clientOrderId": None}


# --- wire encoding ---------------------------------------------------------------------------------
def encode_event(seq: int, prev_seq: int, ts_ms: int, kind: str, body: Any) -> bytes:
    """The §4.5 envelope with the §4.4 fields in `data`, made once when the event is written.

    The engine's bodies are `(account, fields)`; anything else (a raw control-API append, for
    demos and tests) still gets the envelope, with its body as `data` and `account` null."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, tuple) and len(body) == 2:
        account, data = body
    else:
        account, data = None, (body if isinstance(body, dict) else {"body": body})
    d: dict[str, Any] = {"seq": seq, "prevSeq": prev_seq}
    d.update(data)
    d["serverTsMs"] = ts_ms
    return orjson.dumps(
        {
            "channel": "executions",
            "account": account,
            "seq": seq,
            "prevSeq": prev_seq,
            "schemaId": "executions.v1",
            "schemaVersion": 1,
            "schemaEncoding": "json",
            "ts": ts_ms,
            "data": d,
        }
    )


# --- SQL -------------------------------------------------------------------------------------------
class _Sql:
    def __init__(self, ph: str) -> None:
        cols = (
            "order_id, order_no, account, client_order_id, market, side, price, qty, leaves_qty, cum_qty, "
            "status, tif, created_ms, priority"
        )
        self.orders = (
            f"INSERT INTO oe_orders ({cols}) VALUES ({', '.join([ph] * 14)}) ON CONFLICT (order_id) DO UPDATE SET "
            "price = excluded.price, qty = excluded.qty, leaves_qty = excluded.leaves_qty, "
            "cum_qty = excluded.cum_qty, status = excluded.status, priority = excluded.priority"
        )
        self.balances = (
            f"INSERT INTO oe_balances (account, asset, free, reserved) VALUES ({ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (account, asset) DO UPDATE SET free = excluded.free, reserved = excluded.reserved"
        )
        self.floors = (
            f"INSERT INTO oe_accounts (account, nonce_floor, created_ms) VALUES ({ph}, {ph}, {ph}) "
            "ON CONFLICT (account) DO UPDATE SET nonce_floor = excluded.nonce_floor"
        )
        self.idempotency = (
            f"INSERT INTO oe_idempotency (account, idem_key, response, created_ms) VALUES ({ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (account, idem_key) DO NOTHING"
        )
        self.counter = (
            f"INSERT INTO oe_counters (name, value) VALUES ({ph}, {ph}) ON CONFLICT (name) DO UPDATE SET "
            "value = CASE WHEN excluded.value > oe_counters.value THEN excluded.value ELSE oe_counters.value END"
        )

    def write(self, conn: Connection, p: dict[str, Any]) -> None:
        if p["floors"]:
            conn.exec_driver_sql(self.floors, p["floors"])
        if p["orders"]:
            conn.exec_driver_sql(self.orders, p["orders"])
        if p["balances"]:
            conn.exec_driver_sql(self.balances, p["balances"])
        if p["idempotency"]:
            conn.exec_driver_sql(self.idempotency, p["idempotency"])
        if p["counters"]:
            conn.exec_driver_sql(self.counter, p["counters"])


def _load_all(conn: Connection) -> dict[str, Any]:
    return {
        "accounts": conn.execute(text("SELECT account, nonce_floor FROM oe_accounts")).all(),
        "agents": conn.execute(
            text(
                "SELECT api_key_id, account, secret_enc, passphrase_hash, scopes, revoked, demo FROM oe_agents"
            )
        ).all(),
        "balances": conn.execute(text("SELECT account, asset, free, reserved FROM oe_balances")).all(),
        "orders": conn.execute(
            text(
                "SELECT order_id, order_no, account, client_order_id, market, side, price, qty, leaves_qty, cum_qty, "
                "status, tif, created_ms, priority FROM oe_orders "
                "WHERE status IN ('PENDING', 'NEW', 'PARTIALLY_FILLED', 'REPLACED') ORDER BY priority"
            )
        ).all(),
        "max_no": conn.execute(
            text("SELECT MAX(CASE WHEN priority > order_no THEN priority ELSE order_no END) FROM oe_orders")
        ).scalar(),
        "counters": dict(conn.execute(text("SELECT name, value FROM oe_counters")).all()),
    }


def _idempotency_lookup(account: str, key: str) -> Any:
    def run(conn: Connection) -> bytes | None:
        row = conn.execute(
            text("SELECT response FROM oe_idempotency WHERE account = :a AND idem_key = :k"),
            {"a": account, "k": key},
        ).first()
        return None if row is None else bytes(row[0])

    return run
