"""The broker's domain: users and tokens, quotes, CFD trading, price alerts, account events.

Concurrency model. Accounts, open positions, pending orders, active alerts and watch lists
live in memory and are changed only on the event loop, in plain synchronous code: a check and
the change it allows happen with no `await` in between, so they are atomic. Each change
records its SQL and its account events in a `Work`, which is handed to the streams sequencer
(`transact`) in the same event-loop step: the sequencer's queue is FIFO, so rows and events
commit in the order the changes were made, and every `b`/`o`/`a`/`n` frame is committed before
any subscriber sees it (DB-first). Callers answer only after the commit.

Prices. A price change (control API or the simulator) runs one pipeline, in this order:
tick fan-out → pending-order activation → SL/TP → price alerts → stop-out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from app.clock import Timer
from app.engine.broker import conditions, fields
from app.engine.broker.auth import Claims, Passwords, TokenError, Tokens
from app.engine.broker.query import TradeQuery
from app.engine.broker.state import (
    ALERT_ACTIVE,
    ALERT_EXPIRED,
    ALERT_TRIGGERED,
    BALANCE,
    BUY,
    BUY_LIMIT,
    BUY_STOP,
    CLOSED,
    CODE_CLIENT,
    CODE_CONTROL,
    CODE_EXPIRATION,
    CODE_SL,
    CODE_STOP_OUT,
    CODE_TP,
    LEVEL_MARGIN_CALL,
    LEVEL_OK,
    LEVEL_STOP_OUT,
    MODIFIED,
    OPEN,
    PARTIALLY_CLOSED,
    PENDING,
    PENDING_ACTIVATED,
    PENDING_CANCELLED,
    S_CANCELLED,
    S_CLOSED,
    S_FINANCE,
    S_OPEN,
    S_PENDING,
    SELL,
    SELL_LIMIT,
    SELL_STOP,
    Account,
    Alert,
    Metrics,
    Quote,
    Trade,
)
from app.engine.broker.store import (
    ALERT_COLS,
    BROKER_TABLES,
    DEL_ALERT,
    DEL_WATCH,
    INS_ALERT,
    INS_LOG,
    INS_NOTE,
    INS_REVOKED,
    INS_TRADE,
    INS_USER,
    INS_WATCH,
    TRADE_COLS,
    UPD_ALERT,
    UPD_BALANCE,
    UPD_TRADE,
    UPD_USER,
    USER_COLS,
    Work,
)
from app.engine.broker.symbols import ACCOUNT_CURRENCIES, BY_NAME, MARGIN_FOREX, SYMBOLS, Symbol
from app.engine.errors import Conflict, DomainError, Forbidden, NotFound, PaymentRequired, Unauthorized

if TYPE_CHECKING:
    from app.engine.runtime import Runtime

log = logging.getLogger("refserver.broker")

KNOWN_GROUPS = frozenset({"demo", "real"})
STOP_OUT_LEVEL = 50.0  # % margin level at which the worst position is closed
MARGIN_CALL_LEVEL = 100.0  # % margin level under which level_type is 1 (margin call)
SIM_SEED = 20_240_601
DEMO_USERS: tuple[dict[str, Any], ...] = (
    {
        "login": 1001,
        "password": "demo-1001",
        "name": "Demo Trader",
        "email": "demo1001@example.com",
        "balance": 10_000.0,
        "leverage": 100,
        "currency": "USD",
        "country": "GB",
    },
    {
        "login": 1002,
        "password": "demo-1002",
        "name": "Second Trader",
        "email": "demo1002@example.com",
        "balance": 10_000.0,
        "leverage": 100,
        "currency": "USD",
        "country": "DE",
    },
)
DEFAULT_WATCH = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500", "BTCUSD")


class Listener(Protocol):
    """A live WebSocket session as the engine sees it."""

    login: int
    jti: str

    def push_tick(self, frame: str) -> None: ...

    def kick(self, code: int, reason: str) -> None: ...


def _mid(q: Quote) -> float:
    return (q.bid + q.ask) / 2


class BrokerService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        ctx = rt
        self.clock = ctx.clock
        self.streams = ctx.streams
        self.db = ctx.db
        s = ctx.settings
        self.passwords = Passwords(memory_kib=s.broker_argon2_memory_kib, time_cost=s.broker_argon2_time_cost)
        self.token_ttl_s = s.broker_token_ttl_s
        self.tick_interval_ms = s.broker_tick_interval_ms
        self.stop_out_level = STOP_OUT_LEVEL
        self.margin_call_level = MARGIN_CALL_LEVEL
        self.tokens: Tokens | None = None
        self.loaded = False
        self.listeners: dict[int, set[Listener]] = {}
        self.tick_subs: dict[str, set[Listener]] = {s.symbol: set() for s in SYMBOLS}
        self._sim_timer: Timer | None = None
        self._running = False
        self._reset_memory()

    def _reset_memory(self, *, keep_quotes: bool = False) -> None:
        self.accounts: dict[int, Account] = {}
        self.by_email: dict[str, int] = {}
        self.positions_by_symbol: dict[str, dict[int, Trade]] = {s.symbol: {} for s in SYMBOLS}
        self.pending_by_symbol: dict[str, dict[int, Trade]] = {s.symbol: {} for s in SYMBOLS}
        self.open_logins: set[int] = set()
        self.alerts: dict[int, Alert] = {}
        self.alerts_by_symbol: dict[str, dict[int, Alert]] = {s.symbol: {} for s in SYMBOLS}
        self.revoked: set[str] = set()
        self.next_login = 1001
        self.next_order = 100_001
        self.next_alert = 1
        self.next_log = 1
        self.next_script = 1
        self.next_note = 1
        if not keep_quotes:
            self._reset_quotes()

    def _reset_quotes(self) -> None:
        now_s = self.clock.now_ms() // 1000
        self.quotes: dict[str, Quote] = {}
        self._mids: dict[str, float] = {}
        self._rngs: dict[str, random.Random] = {}
        for sym in SYMBOLS:
            self._mids[sym.symbol] = sym.mid
            self._rngs[sym.symbol] = random.Random(f"{SIM_SEED}:{sym.symbol}")
            bid, ask = self._spread_around(sym, sym.mid)
            self.quotes[sym.symbol] = Quote(bid, ask, now_s)

    # --- lifecycle ---------------------------------------------------------------------------
    # --- the lifecycle the core drives (FamilyService) -----------------------------------------
    async def seed(self, mode: str) -> None:
        await self.ensure_loaded()
        if mode == "demo":
            await self.seed_demo()

    def credentials(self) -> list[str]:
        return [
            f"broker: login {d['login']} password {d['password']} "
            f"({d['balance']:,.0f} {d['currency']}, 1:{d['leverage']})"
            for d in DEMO_USERS
            if d["login"] in self.accounts
        ]

    def dashboard(self) -> dict[str, Any] | None:
        """The login the live dashboard acts as: the first demo user, when it is seeded."""
        d = DEMO_USERS[0]
        if d["login"] not in self.accounts:
            return None
        return {"login": d["login"], "password": d["password"]}

    async def token(self, args: list[str]) -> str:
        """`refserver token broker <login>`: a token for any existing login, no password needed."""
        await self.ensure_loaded()
        if self.tokens is None:
            await self.start()
            await self.stop()
        if not args:
            raise SystemExit("usage: refserver token broker <login>")
        acc = self.accounts.get(int(args[0])) if args[0].isdigit() else None
        if acc is None:
            raise SystemExit(f"no broker login {args[0]}")
        return self.mint(acc)

    async def ensure_loaded(self) -> None:
        if self.loaded:
            return
        self._reset_memory()
        await self._load()
        self.loaded = True

    async def _load(self) -> None:
        def read(conn: Connection) -> dict[str, Any]:
            def q(sql: str) -> list[Any]:
                return list(conn.execute(text(sql)).mappings().all())

            return {
                "users": q(f"SELECT {USER_COLS} FROM broker_users"),
                "trades": q(f"SELECT {TRADE_COLS} FROM broker_trades WHERE status IN ('open', 'pending')"),
                "alerts": q(f"SELECT {ALERT_COLS} FROM broker_alerts"),
                "watch": q("SELECT login, symbol, position FROM broker_watch ORDER BY login, position"),
                "revoked": q("SELECT jti FROM broker_revoked_tokens"),
                "max": conn.execute(
                    text(
                        "SELECT (SELECT MAX(login) FROM broker_users), (SELECT MAX(order_id) FROM broker_trades), "
                        "(SELECT MAX(id) FROM broker_alerts), (SELECT MAX(id) FROM broker_alert_logs), "
                        "(SELECT MAX(id) FROM broker_scripts), (SELECT MAX(id) FROM broker_notifications)"
                    )
                ).first(),
            }

        data = await self.db.read(read)
        for u in data["users"]:
            acc = Account(
                login=int(u["login"]),
                password_hash=u["password_hash"],
                email=u["email"],
                name=u["name"],
                group=u["group_name"],
                currency=u["currency"],
                leverage=int(u["leverage"]),
                balance=float(u["balance"]),
                credit=float(u["credit"]),
                regdate=int(u["regdate"]),
                disabled=bool(u["disabled"]),
                token_gen=int(u["token_gen"]),
                phone=u["phone"],
                country=u["country"],
                city=u["city"],
                address=u["address"],
                state=u["state"],
                zipcode=u["zipcode"],
                avatar=u["avatar"],
            )
            self.accounts[acc.login] = acc
            if acc.email:
                self.by_email[acc.email.lower()] = acc.login
        for r in data["trades"]:
            t = trade_from_row(r)
            t.margin = float(r["margin"])
            acc2 = self.accounts.get(t.login)
            if acc2 is None or t.symbol not in BY_NAME:
                continue
            if t.status == S_OPEN:
                self._index_position(acc2, t)
            else:
                self._index_pending(acc2, t)
        for r in data["alerts"]:
            a = Alert(**{k: r[k] for k in r.keys()})
            a.login, a.id = int(a.login), int(a.id)
            self.alerts[a.id] = a
            if a.status == ALERT_ACTIVE and a.symbol in BY_NAME:
                self.alerts_by_symbol[a.symbol][a.id] = a
        for r in data["watch"]:
            acc3 = self.accounts.get(int(r["login"]))
            if acc3 is not None:
                acc3.watch.append(r["symbol"])
        self.revoked = {r["jti"] for r in data["revoked"]}
        mx = data["max"]
        self.next_login = max(1001, int(mx[0] or 0) + 1)
        self.next_order = max(100_001, int(mx[1] or 0) + 1)
        self.next_alert = int(mx[2] or 0) + 1
        self.next_log = int(mx[3] or 0) + 1
        self.next_script = int(mx[4] or 0) + 1
        self.next_note = int(mx[5] or 0) + 1

    async def seed_demo(self) -> None:
        for d in DEMO_USERS:
            if d["login"] in self.accounts:
                continue
            await self.create_user(
                password=d["password"],
                balance=d["balance"],
                leverage=d["leverage"],
                currency=d["currency"],
                name=d["name"],
                email=d["email"],
                country=d["country"],
                login=d["login"],
            )

    async def start(self) -> None:
        key = await self.rt.secrets.get("broker-jwt")
        self.tokens = Tokens(key, self.token_ttl_s)
        self._running = True
        for acc in self.accounts.values():
            for t in acc.pending.values():
                self._arm_expiration(t)
        for a in self.alerts.values():
            if a.status == ALERT_ACTIVE:
                self._arm_alert_expiry(a)
        if self.tick_interval_ms > 0:
            self._sim_timer = self.clock.call_later(
                self.tick_interval_ms, self._sim_tick, name="broker-quotes"
            )

    async def stop(self) -> None:
        self._running = False
        if self._sim_timer is not None:
            self._sim_timer.cancel()
            self._sim_timer = None
        for acc in self.accounts.values():
            for t in acc.pending.values():
                if t.timer is not None:
                    t.timer.cancel()
                    t.timer = None
        for a in self.alerts.values():
            if a.timer is not None:
                a.timer.cancel()
                a.timer = None

    async def wipe(self) -> None:
        def run(conn: Connection, emit: Callable[..., None]) -> None:
            for table in BROKER_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")

        await self.streams.transact(run)
        for subs in list(self.listeners.values()):
            for listener in list(subs):
                listener.kick(4000, "reset")
        self.listeners.clear()
        for s in self.tick_subs.values():
            s.clear()
        self._reset_memory()
        self.loaded = True

    async def commit(self, work: Work) -> None:
        if not work:
            return
        try:
            await self.streams.transact(work.run)
        except DomainError:
            raise
        except Exception:
            # memory ran ahead of a write that failed: rebuild it from the database
            log.exception("broker write failed; reloading state from the database")
            await self.stop()
            self._reset_memory(keep_quotes=True)
            await self._load()
            await self.start()
            raise

    def now_s(self) -> int:
        return self.clock.now_ms() // 1000

    # --- users and tokens --------------------------------------------------------------------
    async def create_user(
        self,
        *,
        password: str,
        balance: float = 10_000.0,
        leverage: int = 100,
        currency: str = "USD",
        name: str = "",
        email: str = "",
        country: str = "",
        group: str = "demo",
        disabled: bool = False,
        login: int | None = None,
        phone: str = "",
        city: str = "",
        address: str = "",
        state: str = "",
        zipcode: str = "",
    ) -> Account:
        if len(password) < 6 or len(password) > 64:
            raise fields.bad("password", "must be 6 to 64 characters")
        currency = currency.upper()
        if currency not in ACCOUNT_CURRENCIES:
            raise fields.bad("currency", f"must be one of {', '.join(ACCOUNT_CURRENCIES)}")
        if not 1 <= leverage <= 1000:
            raise fields.bad("leverage", "must be between 1 and 1000")
        if balance < 0:
            raise fields.bad("balance", "must not be negative")
        if email and email.lower() in self.by_email:
            raise fields.bad("email", "is already registered")
        hashed = await asyncio.to_thread(self.passwords.hash, password)
        # re-check after the await: another sign-up may have taken the email meanwhile
        if email and email.lower() in self.by_email:
            raise fields.bad("email", "is already registered")
        if login is None or login in self.accounts:
            login = self.next_login
        self.next_login = max(self.next_login, login + 1)
        now = self.now_s()
        acc = Account(
            login=login,
            password_hash=hashed,
            email=email,
            name=name,
            group=group,
            currency=currency,
            leverage=leverage,
            balance=round(balance, 2),
            credit=0.0,
            regdate=now,
            disabled=disabled,
            phone=phone,
            country=country,
            city=city,
            address=address,
            state=state,
            zipcode=zipcode,
        )
        self.accounts[login] = acc
        if email:
            self.by_email[email.lower()] = login
        work = Work()
        work.sql(INS_USER, acc.user_params())
        for i, sym in enumerate(DEFAULT_WATCH):
            acc.watch.append(sym)
            work.sql(INS_WATCH, {"login": login, "symbol": sym, "position": i})
        if balance > 0:
            work.sql(INS_TRADE, self._finance_row(acc, balance, "Deposit", now).params())
        # a new login's account stream starts empty: no event here
        await self.commit(work)
        return acc

    def _finance_row(self, acc: Account, amount: float, comment: str, now: int) -> Trade:
        order = self.next_order
        self.next_order += 1
        return Trade(
            order=order,
            login=acc.login,
            cmd=BALANCE,
            state=CLOSED,
            status=S_FINANCE,
            symbol="",
            volume=0,
            open_price=0.0,
            digits=2,
            open_time=now,
            close_time=now,
            profit=round(amount, 2),
            comment=comment,
        )

    def account(self, login: int) -> Account:
        acc = self.accounts.get(login)
        if acc is None:
            raise NotFound(f"login {login} not found", code="NOT_FOUND")
        return acc

    def find_login(self, login: Any) -> Account | None:
        if isinstance(login, str) and "@" in login:
            n = self.by_email.get(login.strip().lower())
            return None if n is None else self.accounts.get(n)
        try:
            n = int(login)
        except (TypeError, ValueError):
            return None
        return self.accounts.get(n)

    def mint(self, acc: Account) -> str:
        assert self.tokens is not None
        token, _ = self.tokens.mint(acc.login, acc.token_gen, self.now_s())
        return token

    async def sign_in(self, login: Any, password: str) -> tuple[Account, str]:
        acc = self.find_login(login)
        if acc is None:
            raise Forbidden("login or password is incorrect", code="USER_NOT_FOUND_OR_INCORRECT")
        if not await asyncio.to_thread(self.passwords.verify, acc.password_hash, password):
            raise Forbidden("login or password is incorrect", code="USER_NOT_FOUND_OR_INCORRECT")
        self._check_usable(acc)
        return acc, self.mint(acc)

    def _check_usable(self, acc: Account) -> None:
        if acc.disabled:
            raise PaymentRequired(f"login {acc.login} is disabled", code="USER_DISABLED")
        if acc.group not in KNOWN_GROUPS:
            raise NotFound(f"group {acc.group!r} of login {acc.login} does not exist", code="GROUP_NOT_FOUND")

    def authenticate(self, token: str) -> tuple[Account, Claims]:
        """The account behind a token, or 401 PERMISSION_DENIED (402/404 for unusable logins)."""
        if self.tokens is None:
            raise Unauthorized("the server is starting", code="PERMISSION_DENIED")
        try:
            claims = self.tokens.decode(token)
        except TokenError:
            raise Unauthorized("invalid token", code="PERMISSION_DENIED") from None
        if self.clock.now_ms() >= claims.exp * 1000:
            raise Unauthorized("token expired", code="PERMISSION_DENIED")
        if claims.jti in self.revoked:
            raise Unauthorized("token revoked (signed out)", code="PERMISSION_DENIED")
        acc = self.accounts.get(claims.login)
        if acc is None:
            raise Unauthorized("token of an unknown login", code="PERMISSION_DENIED")
        if claims.gen != acc.token_gen:
            raise Unauthorized("token revoked (password changed)", code="PERMISSION_DENIED")
        self._check_usable(acc)
        return acc, claims

    async def change_password(self, acc: Account, old: str, new: str) -> None:
        if len(new) < 6 or len(new) > 64:
            raise fields.bad("new_password", "must be 6 to 64 characters")
        if not await asyncio.to_thread(self.passwords.verify, acc.password_hash, old):
            raise Forbidden("old_password is incorrect", code="USER_NOT_FOUND_OR_INCORRECT")
        hashed = await asyncio.to_thread(self.passwords.hash, new)
        acc.password_hash = hashed
        acc.token_gen += 1
        work = Work()
        work.sql(UPD_USER, acc.user_params())
        await self.commit(work)
        self.kick(acc.login, None, 4401, "password changed")

    async def sign_out(self, acc: Account, claims: Claims) -> None:
        if claims.jti not in self.revoked:
            self.revoked.add(claims.jti)
            work = Work()
            work.sql(INS_REVOKED, {"jti": claims.jti, "login": acc.login, "exp": claims.exp})
            await self.commit(work)
        self.kick(acc.login, claims.jti, 4401, "signed out")

    async def update_user(self, acc: Account, changes: dict[str, Any]) -> Account:
        """Control API: profile, group, leverage, credit, disabled."""
        email = changes.get("email")
        if email is not None and email.lower() != acc.email.lower():
            if email.lower() in self.by_email:
                raise fields.bad("email", "is already registered")
            self.by_email.pop(acc.email.lower(), None)
            if email:
                self.by_email[email.lower()] = acc.login
        for k, v in changes.items():
            if k == "group":
                acc.group = v
            else:
                setattr(acc, k, v)
        work = Work()
        work.sql(UPD_USER, acc.user_params())
        if "credit" in changes:
            work.emit(acc.login, self.balance_frame(acc, CODE_CONTROL))
        await self.commit(work)
        if acc.disabled:
            self.kick(acc.login, None, 4401, "login disabled")
        return acc

    async def deposit(self, acc: Account, amount: float, comment: str | None) -> int:
        if amount < 0 and -amount > self.metrics(acc).margin_free:
            raise Conflict("the free margin cannot cover this withdrawal", code="NOT_ENOUGH_MONEY")
        now = self.now_s()
        row = self._finance_row(acc, amount, comment or ("Deposit" if amount >= 0 else "Withdrawal"), now)
        acc.balance = round(acc.balance + amount, 2)
        work = Work()
        work.sql(INS_TRADE, row.params())
        work.sql(UPD_BALANCE, {"balance": acc.balance, "login": acc.login})
        work.emit(acc.login, self.balance_frame(acc, CODE_CONTROL))
        await self.commit(work)
        return row.order

    async def notify(self, acc: Account, level: int, title: str, message: str) -> int:
        nid = self.next_note
        self.next_note += 1
        now = self.now_s()
        work = Work()
        work.sql(
            INS_NOTE,
            {"id": nid, "login": acc.login, "level": level, "title": title, "message": message, "ctm": now},
        )
        work.emit(acc.login, ["n", nid, acc.login, level, title, message, now])
        await self.commit(work)
        return nid

    # --- live sessions -----------------------------------------------------------------------
    def attach(self, listener: Listener) -> None:
        self.listeners.setdefault(listener.login, set()).add(listener)

    def detach(self, listener: Listener) -> None:
        subs = self.listeners.get(listener.login)
        if subs is not None:
            subs.discard(listener)
            if not subs:
                del self.listeners[listener.login]
        for s in self.tick_subs.values():
            s.discard(listener)

    def kick(self, login: int, jti: str | None, code: int, reason: str) -> None:
        for listener in list(self.listeners.get(login, ())):
            if jti is None or listener.jti == jti:
                listener.kick(code, reason)

    def subscribe_ticks(self, listener: Listener, symbols: Iterable[str]) -> None:
        for s in symbols:
            self.tick_subs[s].add(listener)

    def unsubscribe_ticks(self, listener: Listener, symbols: Iterable[str]) -> None:
        for s in symbols:
            self.tick_subs[s].discard(listener)

    # --- money -------------------------------------------------------------------------------
    def rate(self, frm: str, to: str) -> float:
        """Units of `to` per unit of `frm`, at current mid prices (via USD when no direct pair)."""
        if frm == to:
            return 1.0
        q = self.quotes.get(frm + to)
        if q is not None:
            return _mid(q)
        q = self.quotes.get(to + frm)
        if q is not None:
            return 1.0 / _mid(q)
        if frm != "USD" and to != "USD":
            return self.rate(frm, "USD") * self.rate("USD", to)
        raise ValueError(f"no conversion from {frm} to {to}")

    @staticmethod
    def _spread_around(sym: Symbol, mid: float) -> tuple[float, float]:
        half = sym.spread * sym.point / 2
        bid = round(mid - half, sym.digits)
        return bid, round(bid + sym.spread * sym.point, sym.digits)

    def close_price(self, t: Trade) -> float:
        q = self.quotes[t.symbol]
        return q.bid if t.cmd == BUY else q.ask

    def profit_at(self, acc: Account, t: Trade, price: float, volume: int | None = None) -> float:
        sym = BY_NAME[t.symbol]
        vol = t.volume if volume is None else volume
        diff = price - t.open_price if t.cmd == BUY else t.open_price - price
        raw = diff * vol / 100 * sym.contract_size
        return round(raw * self.rate(sym.quote, acc.currency), 2)

    def floating(self, acc: Account, t: Trade) -> float:
        return self.profit_at(acc, t, self.close_price(t))

    def margin_for(self, acc: Account, sym: Symbol, volume: int, price: float) -> float:
        lots = volume / 100
        leverage = acc.leverage / sym.margin_divider
        if sym.margin_mode == MARGIN_FOREX:
            amount, ccy = lots * sym.contract_size / leverage, sym.base
        else:
            amount, ccy = lots * sym.contract_size * price / leverage, sym.quote
        return round(amount * self.rate(ccy, acc.currency), 2)

    def metrics(self, acc: Account) -> Metrics:
        profit = round(float(sum(self.floating(acc, t) for t in acc.positions.values())), 2)
        margin = round(float(sum(t.margin for t in acc.positions.values())), 2)
        equity = round(acc.balance + acc.credit + profit, 2)
        level = round(equity / margin * 100, 2) if margin > 0 else 0.0
        if margin > 0 and level < self.stop_out_level:
            lt = LEVEL_STOP_OUT
        elif margin > 0 and level < self.margin_call_level:
            lt = LEVEL_MARGIN_CALL
        else:
            lt = LEVEL_OK
        return Metrics(acc.balance, acc.credit, equity, margin, round(equity - margin, 2), level, profit, lt)

    def balance_frame(self, acc: Account, code: int) -> list[Any]:
        m = self.metrics(acc)
        return [
            "b",
            acc.login,
            m.balance,
            m.margin,
            m.margin_free,
            m.margin_level,
            m.equity,
            m.credit,
            m.level_type,
            m.profit,
            code,
        ]

    def balance_row(self, acc: Account) -> list[Any]:
        m = self.metrics(acc)
        return [
            acc.login,
            m.balance,
            m.credit,
            m.equity,
            m.margin,
            m.margin_free,
            m.margin_level,
            m.profit,
            acc.currency,
            acc.leverage,
            m.level_type,
        ]

    def trade_frame(self, acc: Account, t: Trade, code: int) -> list[Any]:
        if t.status == S_OPEN:
            return t.frame(code, profit=self.floating(acc, t), close_price=self.close_price(t))
        return t.frame(code)

    # --- indexes -----------------------------------------------------------------------------
    def _index_position(self, acc: Account, t: Trade) -> None:
        acc.positions[t.order] = t
        self.positions_by_symbol[t.symbol][t.order] = t
        self.open_logins.add(acc.login)

    def _unindex_position(self, acc: Account, t: Trade) -> None:
        acc.positions.pop(t.order, None)
        self.positions_by_symbol[t.symbol].pop(t.order, None)
        if not acc.positions:
            self.open_logins.discard(acc.login)

    def _index_pending(self, acc: Account, t: Trade) -> None:
        acc.pending[t.order] = t
        self.pending_by_symbol[t.symbol][t.order] = t

    def _unindex_pending(self, acc: Account, t: Trade) -> None:
        acc.pending.pop(t.order, None)
        self.pending_by_symbol[t.symbol].pop(t.order, None)
        if t.timer is not None:
            t.timer.cancel()
            t.timer = None

    # --- trading -----------------------------------------------------------------------------
    @staticmethod
    def symbol(name: Any, field: str = "symbol") -> Symbol:
        if not isinstance(name, str) or not name:
            raise fields.bad(field, "is required" if name is None else "must be a string")
        sym = BY_NAME.get(name.strip().upper())
        if sym is None:
            raise fields.bad(field, f"unknown symbol {name!r}")
        return sym

    @staticmethod
    def _check_volume(sym: Symbol, volume: int, field: str = "volume") -> None:
        if volume < sym.vol_min or volume > sym.vol_max:
            raise fields.bad(field, f"must be between {sym.vol_min} and {sym.vol_max} (hundredths of a lot)")
        if (volume - sym.vol_min) % sym.vol_step:
            raise fields.bad(
                field, f"must be a multiple of the lot step {sym.vol_step} (hundredths of a lot)"
            )

    @staticmethod
    def _price(sym: Symbol, value: float | None) -> float:
        return 0.0 if not value else round(value, sym.digits)

    def _check_stops(self, buy_side: bool, ref: float, sl: float, tp: float) -> None:
        """SL/TP on the losing/winning side of `ref` (the close-side price or the pending price)."""
        if buy_side:
            if sl and sl >= ref:
                raise fields.bad("sl", f"must be below {ref} for a buy")
            if tp and tp <= ref:
                raise fields.bad("tp", f"must be above {ref} for a buy")
        else:
            if sl and sl <= ref:
                raise fields.bad("sl", f"must be above {ref} for a sell")
            if tp and tp >= ref:
                raise fields.bad("tp", f"must be below {ref} for a sell")

    def _check_pending_price(self, cmd: int, q: Quote, price: float) -> None:
        ok = {
            BUY_LIMIT: price < q.ask,
            SELL_LIMIT: price > q.bid,
            BUY_STOP: price > q.ask,
            SELL_STOP: price < q.bid,
        }[cmd]
        if not ok:
            where = {
                BUY_LIMIT: "below the ask",
                SELL_LIMIT: "above the bid",
                BUY_STOP: "above the ask",
                SELL_STOP: "below the bid",
            }[cmd]
            raise fields.bad("open_price", f"must be {where} ({q.bid}/{q.ask}) for cmd {cmd}")

    def _check_expiration(self, expiration: int) -> None:
        if expiration and expiration * 1000 <= self.clock.now_ms():
            raise fields.bad("expiration", "must be in the future (epoch seconds)")

    async def open_trade(
        self,
        acc: Account,
        *,
        cmd: int,
        volume: int,
        symbol: Any,
        sl: float | None = None,
        tp: float | None = None,
        open_price: float | None = None,
        expiration: int | None = None,
        comment: str | None = None,
    ) -> int:
        if cmd not in (BUY, SELL, BUY_LIMIT, SELL_LIMIT, BUY_STOP, SELL_STOP):
            raise fields.bad(
                "cmd", "must be 0 BUY, 1 SELL, 2 BUY_LIMIT, 3 SELL_LIMIT, 4 BUY_STOP or 5 SELL_STOP"
            )
        sym = self.symbol(symbol)
        self._check_volume(sym, volume)
        q = self.quotes[sym.symbol]
        sl_p, tp_p = self._price(sym, sl), self._price(sym, tp)
        now = self.now_s()
        buy_side = cmd in (BUY, BUY_LIMIT, BUY_STOP)
        if cmd in (BUY, SELL):
            price = q.ask if cmd == BUY else q.bid
            self._check_stops(buy_side, q.bid if cmd == BUY else q.ask, sl_p, tp_p)
            exp = 0
        else:
            if not open_price:
                raise fields.bad("open_price", "is required for a pending order")
            price = round(open_price, sym.digits)
            self._check_pending_price(cmd, q, price)
            self._check_stops(buy_side, price, sl_p, tp_p)
            exp = expiration or 0
            self._check_expiration(exp)
        margin = self.margin_for(acc, sym, volume, price)
        if margin > self.metrics(acc).margin_free:
            raise Conflict(
                f"free margin {self.metrics(acc).margin_free} cannot carry the required margin {margin}",
                code="NOT_ENOUGH_MONEY",
            )
        order = self.next_order
        self.next_order += 1
        pending = cmd not in (BUY, SELL)
        t = Trade(
            order=order,
            login=acc.login,
            cmd=cmd,
            state=PENDING if pending else OPEN,
            status=S_PENDING if pending else S_OPEN,
            symbol=sym.symbol,
            volume=volume,
            open_price=price,
            digits=sym.digits,
            open_time=now,
            sl=sl_p,
            tp=tp_p,
            expiration=exp,
            comment=comment or "",
            margin=0.0 if pending else margin,
        )
        work = Work()
        work.sql(INS_TRADE, t.params())
        if pending:
            self._index_pending(acc, t)
            self._arm_expiration(t)
            work.emit(acc.login, self.trade_frame(acc, t, CODE_CLIENT))
        else:
            self._index_position(acc, t)
            work.emit(acc.login, self.trade_frame(acc, t, CODE_CLIENT))
            work.emit(acc.login, self.balance_frame(acc, CODE_CLIENT))
        await self.commit(work)
        return order

    def _close(
        self,
        acc: Account,
        t: Trade,
        volume: int,
        price: float,
        code: int,
        work: Work,
        comment: str | None = None,
    ) -> None:
        now = self.now_s()
        profit = self.profit_at(acc, t, price, volume)
        if volume >= t.volume:
            t.status, t.state = S_CLOSED, CLOSED
            t.close_price, t.close_time, t.profit, t.reason = price, now, profit, code
            if comment:
                t.comment = comment
            self._unindex_position(acc, t)
            work.sql(UPD_TRADE, t.params())
            work.emit(acc.login, t.frame(code))
        else:
            order = self.next_order
            self.next_order += 1
            part_margin = round(t.margin * volume / t.volume, 2)
            part = Trade(
                order=order,
                login=acc.login,
                cmd=t.cmd,
                state=CLOSED,
                status=S_CLOSED,
                symbol=t.symbol,
                volume=volume,
                open_price=t.open_price,
                digits=t.digits,
                open_time=t.open_time,
                close_price=price,
                close_time=now,
                sl=t.sl,
                tp=t.tp,
                profit=profit,
                comment=comment or f"partial close of #{t.order}",
                reason=code,
                margin=part_margin,
            )
            t.volume -= volume
            t.margin = round(t.margin - part_margin, 2)
            t.state = PARTIALLY_CLOSED
            work.sql(INS_TRADE, part.params())
            work.sql(UPD_TRADE, t.params())
            work.emit(acc.login, t.frame(code, profit=profit, close_price=price, close_time=now))
        acc.balance = round(acc.balance + profit, 2)
        work.sql(UPD_BALANCE, {"balance": acc.balance, "login": acc.login})
        work.emit(acc.login, self.balance_frame(acc, code))

    async def close_trade(self, acc: Account, order: int, volume: int | None, comment: str | None) -> None:
        t = acc.positions.get(order)
        if t is None:
            if order in acc.pending:
                raise NotFound(
                    f"order {order} is a pending order: cancel it with DELETE /trade/pending",
                    code="TRADE_ERROR",
                )
            raise NotFound(f"no open trade {order} on login {acc.login}", code="TRADE_ERROR")
        sym = BY_NAME[t.symbol]
        vol = t.volume if volume is None else volume
        if vol <= 0 or vol > t.volume:
            raise fields.bad("volume", f"must be between 1 and the position's volume {t.volume}")
        if vol < t.volume:
            if vol % sym.vol_step:
                raise fields.bad("volume", f"must be a multiple of the lot step {sym.vol_step}")
            if t.volume - vol < sym.vol_min:
                raise fields.bad("volume", f"would leave less than the minimum volume {sym.vol_min} open")
        work = Work()
        self._close(acc, t, vol, self.close_price(t), CODE_CLIENT, work, comment)
        await self.commit(work)

    async def cancel_pending(self, acc: Account, order: int) -> None:
        t = acc.pending.get(order)
        if t is None:
            raise NotFound(f"no pending order {order} on login {acc.login}", code="TRADE_ERROR")
        work = Work()
        self._cancel(acc, t, CODE_CLIENT, work)
        await self.commit(work)

    def _cancel(self, acc: Account, t: Trade, code: int, work: Work) -> None:
        self._unindex_pending(acc, t)
        t.status, t.state, t.close_time, t.reason = S_CANCELLED, PENDING_CANCELLED, self.now_s(), code
        work.sql(UPD_TRADE, t.params())
        work.emit(acc.login, t.frame(code))

    async def modify_trade(
        self,
        acc: Account,
        order: int,
        *,
        sl: float | None,
        tp: float | None,
        open_price: float | None,
        expiration: int | None,
    ) -> None:
        t = acc.positions.get(order) or acc.pending.get(order)
        if t is None:
            raise NotFound(f"no open or pending trade {order} on login {acc.login}", code="TRADE_ERROR")
        if sl is None and tp is None and open_price is None and expiration is None:
            raise fields.bad("sl", "nothing to modify: give sl, tp, open_price or expiration")
        sym = BY_NAME[t.symbol]
        q = self.quotes[t.symbol]
        new_sl = t.sl if sl is None else self._price(sym, sl)
        new_tp = t.tp if tp is None else self._price(sym, tp)
        buy_side = t.cmd in (BUY, BUY_LIMIT, BUY_STOP)
        if t.status == S_OPEN:
            if open_price:
                raise fields.bad("open_price", "can only be changed on a pending order")
            if expiration:
                raise fields.bad("expiration", "applies to pending orders only")
            self._check_stops(buy_side, q.bid if t.cmd == BUY else q.ask, new_sl, new_tp)
            new_price, new_exp = t.open_price, t.expiration
        else:
            new_price = t.open_price if not open_price else round(open_price, sym.digits)
            if open_price:
                self._check_pending_price(t.cmd, q, new_price)
            new_exp = t.expiration if expiration is None else expiration
            self._check_expiration(new_exp)
            self._check_stops(buy_side, new_price, new_sl, new_tp)
        t.sl, t.tp, t.open_price, t.state = new_sl, new_tp, new_price, MODIFIED
        if t.status == S_PENDING and new_exp != t.expiration:
            t.expiration = new_exp
            if t.timer is not None:
                t.timer.cancel()
                t.timer = None
            self._arm_expiration(t)
        work = Work()
        work.sql(UPD_TRADE, t.params())
        work.emit(acc.login, self.trade_frame(acc, t, CODE_CLIENT))
        await self.commit(work)

    def _arm_expiration(self, t: Trade) -> None:
        if t.expiration and self._running and t.timer is None:
            order, login = t.order, t.login
            t.timer = self.clock.call_at(
                t.expiration * 1000, lambda: self._expire(login, order), name="broker-expire"
            )

    async def _expire(self, login: int, order: int) -> None:
        acc = self.accounts.get(login)
        t = None if acc is None else acc.pending.get(order)
        if acc is None or t is None:
            return
        t.timer = None
        work = Work()
        self._cancel(acc, t, CODE_EXPIRATION, work)
        await self.commit(work)

    # --- prices ------------------------------------------------------------------------------
    async def set_prices(self, prices: list[tuple[Symbol, float, float]]) -> None:
        work = Work()
        for sym, bid, ask in prices:
            self._mids[sym.symbol] = (bid + ask) / 2
            self._apply_price(sym, bid, ask, work)
        await self.commit(work)

    async def _sim_tick(self) -> None:
        if not self._running:
            return
        self._sim_timer = self.clock.call_later(self.tick_interval_ms, self._sim_tick, name="broker-quotes")
        work = Work()
        for sym in SYMBOLS:
            rng = self._rngs[sym.symbol]
            x = self._mids[sym.symbol]
            # random walk with a weak pull back to the starting price, so prices stay plausible
            x *= math.exp(sym.sigma * rng.gauss(0.0, 1.0) - 0.002 * math.log(x / sym.mid))
            self._mids[sym.symbol] = x
            bid, ask = self._spread_around(sym, x)
            self._apply_price(sym, bid, ask, work)
        try:
            await self.commit(work)
        except Exception:
            log.exception("quote tick failed")

    def _apply_price(self, sym: Symbol, bid: float, ask: float, work: Work) -> None:
        name = sym.symbol
        prev = self.quotes[name]
        q = Quote(bid, ask, self.now_s())
        self.quotes[name] = q
        subs = self.tick_subs[name]
        if subs:
            frame = orjson.dumps(["t", name, bid, ask, q.ctm]).decode()
            for listener in subs:
                listener.push_tick(frame)
        pend = self.pending_by_symbol[name]
        if pend:
            for t in sorted(pend.values(), key=lambda x: x.order):
                hit = {
                    BUY_LIMIT: ask <= t.open_price,
                    SELL_LIMIT: bid >= t.open_price,
                    BUY_STOP: ask >= t.open_price,
                    SELL_STOP: bid <= t.open_price,
                }[t.cmd]
                if hit:
                    self._activate(self.accounts[t.login], t, sym, q, work)
        pos = self.positions_by_symbol[name]
        if pos:
            for t in sorted(pos.values(), key=lambda x: x.order):
                if t.cmd == BUY:
                    px, code = (
                        bid,
                        (CODE_SL if t.sl and bid <= t.sl else CODE_TP if t.tp and bid >= t.tp else -1),
                    )
                else:
                    px, code = (
                        ask,
                        (CODE_SL if t.sl and ask >= t.sl else CODE_TP if t.tp and ask <= t.tp else -1),
                    )
                if code >= 0:
                    self._close(self.accounts[t.login], t, t.volume, px, code, work)
        alerts = self.alerts_by_symbol[name]
        if alerts:
            self._check_alerts(sym, prev, q, list(alerts.values()), work)
        if self.open_logins:
            self._stop_outs(work)

    def _activate(self, acc: Account, t: Trade, sym: Symbol, q: Quote, work: Work) -> None:
        self._unindex_pending(acc, t)
        t.cmd = BUY if t.cmd in (BUY_LIMIT, BUY_STOP) else SELL
        t.open_price = q.ask if t.cmd == BUY else q.bid
        t.open_time = q.ctm
        t.state, t.status = PENDING_ACTIVATED, S_OPEN
        t.margin = self.margin_for(acc, sym, t.volume, t.open_price)
        self._index_position(acc, t)
        work.sql(UPD_TRADE, t.params())
        work.emit(acc.login, self.trade_frame(acc, t, CODE_CLIENT))
        work.emit(acc.login, self.balance_frame(acc, CODE_CLIENT))

    def _stop_outs(self, work: Work) -> None:
        for login in list(self.open_logins):
            acc = self.accounts[login]
            while acc.positions:
                m = self.metrics(acc)
                if m.margin <= 0 or m.margin_level >= self.stop_out_level:
                    break
                worst = min(acc.positions.values(), key=lambda t: (self.floating(acc, t), t.order))
                self._close(acc, worst, worst.volume, self.close_price(worst), CODE_STOP_OUT, work)

    # --- queries -----------------------------------------------------------------------------
    async def trades(self, acc: Account, query: TradeQuery) -> tuple[list[list[Any]], dict[str, Any]]:
        tt = query.trade_type
        rows: list[list[Any]] = []
        if tt in (0, 1):
            rows.extend(t.row(self.floating(acc, t), self.close_price(t)) for t in acc.positions.values())
        if tt in (0, 3):
            rows.extend(t.row() for t in acc.pending.values())
        statuses = {0: (S_CLOSED, S_CANCELLED, S_FINANCE), 2: (S_CLOSED, S_CANCELLED), 4: (S_FINANCE,)}.get(
            tt
        )
        if statuses:
            login = acc.login

            def read(conn: Connection) -> list[Any]:
                sql = text(
                    f"SELECT {TRADE_COLS} FROM broker_trades WHERE login = :login AND status IN :statuses "
                ).bindparams(bindparam("statuses", expanding=True))
                return list(conn.execute(sql, {"login": login, "statuses": list(statuses)}).mappings().all())

            for r in await self.db.read(read):
                t = trade_from_row(r)
                rows.append(t.row())
        rows = [r for r in rows if query.match(r)]
        rows.sort(key=lambda r: r[0])
        # TRADE_COLUMNS: profit 13, net_profit 14, commission 15, storage 16, volume 6
        totals = {
            "count": len(rows),
            "total_profit": round(sum(r[13] for r in rows), 2),
            "total_net_profit": round(sum(r[14] for r in rows), 2),
            "total_storage": round(sum(r[16] for r in rows), 2),
            "total_commission": round(sum(r[15] for r in rows), 2),
            "total_volume": sum(r[6] for r in rows),
        }
        return rows[query.offset : query.offset + query.limit], totals

    # --- watch list --------------------------------------------------------------------------
    async def watch_add(self, acc: Account, sym: Symbol) -> None:
        if sym.symbol in acc.watch:
            return
        acc.watch.append(sym.symbol)
        work = Work()
        work.sql(INS_WATCH, {"login": acc.login, "symbol": sym.symbol, "position": len(acc.watch) - 1})
        await self.commit(work)

    async def watch_remove(self, acc: Account, sym: Symbol) -> None:
        if sym.symbol not in acc.watch:
            raise NotFound(f"{sym.symbol} is not in the watch list", code="NOT_FOUND")
        acc.watch.remove(sym.symbol)
        work = Work()
        work.sql(DEL_WATCH, {"login": acc.login, "symbol": sym.symbol})
        await self.commit(work)

    # --- price alerts ------------------------------------------------------------------------
    def _validate_alert(self, a: Alert) -> None:
        if a.side not in (0, 1):
            raise fields.bad("side", "must be 0 (bid) or 1 (ask)")
        if not 0 <= a.condition <= 12:
            raise fields.bad("condition", "must be between 0 and 12")
        if a.repeat_mode not in (0, 1):
            raise fields.bad("repeat_mode", "must be 0 (once) or 1 (repeating)")
        c = a.condition
        if c in conditions.TARGET_CONDITIONS and not a.target_price:
            raise fields.bad(
                "target_price", f"is required for condition {c} ({conditions.CONDITION_NAMES[c]})"
            )
        if c in conditions.CHANNEL_CONDITIONS:
            for name in ("channel_low", "channel_high"):
                if not getattr(a, name):
                    raise fields.bad(name, f"is required for condition {c} ({conditions.CONDITION_NAMES[c]})")
            assert a.channel_low is not None and a.channel_high is not None
            if a.channel_low >= a.channel_high:
                raise fields.bad("channel_high", "must be greater than channel_low")
        if c in conditions.MOVE_CONDITIONS and not a.move_threshold:
            raise fields.bad(
                "move_threshold", f"is required for condition {c} ({conditions.CONDITION_NAMES[c]})"
            )
        if a.move_threshold is not None and a.move_threshold < 0:
            raise fields.bad("move_threshold", "must be greater than 0")
        if a.expires_at and a.expires_at * 1000 <= self.clock.now_ms():
            raise fields.bad("expires_at", "must be in the future (epoch seconds)")

    def _side_price(self, a: Alert) -> float:
        q = self.quotes[a.symbol]
        return q.bid if a.side == 0 else q.ask

    async def create_alert(self, acc: Account, values: dict[str, Any]) -> int:
        now = self.now_s()
        a = Alert(id=0, login=acc.login, created_at=now, updated_at=now, **values)
        self._validate_alert(a)
        self._round_alert(a)
        a.id = self.next_alert
        self.next_alert += 1
        a.reference_price, a.reference_time = self._side_price(a), now
        self.alerts[a.id] = a
        self.alerts_by_symbol[a.symbol][a.id] = a
        self._arm_alert_expiry(a)
        work = Work()
        work.sql(INS_ALERT, a.params())
        await self.commit(work)
        return a.id

    @staticmethod
    def _round_alert(a: Alert) -> None:
        d = BY_NAME[a.symbol].digits
        for name in ("target_price", "channel_low", "channel_high"):
            v = getattr(a, name)
            if v is not None:
                setattr(a, name, round(v, d))

    def _own_alert(self, acc: Account, alert_id: int) -> Alert:
        a = self.alerts.get(alert_id)
        if a is None or a.login != acc.login:
            raise NotFound(f"no price alert {alert_id} on login {acc.login}", code="NOT_FOUND")
        return a

    async def update_alert(self, acc: Account, alert_id: int, values: dict[str, Any]) -> None:
        a = self._own_alert(acc, alert_id)
        trial = dataclasses.replace(a, timer=None, **values)
        self._validate_alert(trial)
        self._round_alert(trial)
        self.alerts_by_symbol[a.symbol].pop(a.id, None)
        if a.timer is not None:
            a.timer.cancel()
            a.timer = None
        for k in values:
            setattr(a, k, getattr(trial, k))
        now = self.now_s()
        # an update re-activates the alert and restarts its reference price
        a.status, a.armed, a.updated_at = ALERT_ACTIVE, True, now
        a.reference_price, a.reference_time = self._side_price(a), now
        self.alerts_by_symbol[a.symbol][a.id] = a
        self._arm_alert_expiry(a)
        work = Work()
        work.sql(UPD_ALERT, a.params())
        await self.commit(work)

    async def delete_alert(self, acc: Account, alert_id: int) -> None:
        a = self._own_alert(acc, alert_id)
        del self.alerts[a.id]
        self.alerts_by_symbol[a.symbol].pop(a.id, None)
        if a.timer is not None:
            a.timer.cancel()
        work = Work()
        work.sql(DEL_ALERT, {"id": a.id})
        await self.commit(work)

    def alerts_of(self, acc: Account) -> list[list[Any]]:
        return [a.row() for a in sorted(self.alerts.values(), key=lambda x: x.id) if a.login == acc.login]

    def _arm_alert_expiry(self, a: Alert) -> None:
        if a.expires_at and self._running and a.timer is None and a.status == ALERT_ACTIVE:
            aid = a.id
            a.timer = self.clock.call_at(
                a.expires_at * 1000, lambda: self._expire_alert(aid), name="broker-alert"
            )

    async def _expire_alert(self, alert_id: int) -> None:
        a = self.alerts.get(alert_id)
        if a is None or a.status != ALERT_ACTIVE:
            return
        a.timer = None
        a.status, a.updated_at = ALERT_EXPIRED, self.now_s()
        self.alerts_by_symbol[a.symbol].pop(a.id, None)
        work = Work()
        work.sql(UPD_ALERT, a.params())
        await self.commit(work)

    def _check_alerts(self, sym: Symbol, prev: Quote, q: Quote, alerts: list[Alert], work: Work) -> None:
        for a in sorted(alerts, key=lambda x: x.id):
            if a.status != ALERT_ACTIVE:
                continue
            p, pv = (q.bid, prev.bid) if a.side == 0 else (q.ask, prev.ask)
            ok = conditions.holds(
                a.condition,
                pv,
                p,
                target=a.target_price,
                low=a.channel_low,
                high=a.channel_high,
                threshold=a.move_threshold,
                reference=a.reference_price,
                digits=sym.digits,
            )
            if a.condition in conditions.LEVEL_CONDITIONS and a.repeat_mode == 1:
                if not ok:
                    a.armed = True
                    continue
                if not a.armed:
                    continue
                a.armed = False
            elif not ok:
                continue
            self._fire_alert(a, p, q.ctm, work)

    def _fire_alert(self, a: Alert, price: float, now: int, work: Work) -> None:
        log_id = self.next_log
        self.next_log += 1
        a.triggered_at, a.triggered_price, a.updated_at = now, price, now
        if a.condition in conditions.MOVE_CONDITIONS:
            a.reference_price, a.reference_time = price, now
        if a.repeat_mode == 0:
            a.status = ALERT_TRIGGERED
            self.alerts_by_symbol[a.symbol].pop(a.id, None)
            if a.timer is not None:
                a.timer.cancel()
                a.timer = None
        work.sql(UPD_ALERT, a.params())
        work.sql(
            INS_LOG,
            {
                "id": log_id,
                "alert_id": a.id,
                "login": a.login,
                "symbol": a.symbol,
                "indicator_name": a.indicator_name,
                "message": a.message,
                "side": a.side,
                "condition": a.condition,
                "target_price": a.target_price,
                "triggered_price": price,
                "triggered_at": now,
                "comment": a.comment,
            },
        )
        work.emit(
            a.login,
            [
                "a",
                log_id,
                a.id,
                a.login,
                a.symbol,
                a.side,
                a.condition,
                a.target_price,
                price,
                now,
                a.message,
            ],
        )

    # --- scripts and settings (database only) ------------------------------------------------
    async def add_script(self, acc: Account, name: str, script: str, autostart: int) -> int:
        sid = self.next_script
        self.next_script += 1
        now = self.now_s()
        work = Work()
        work.sql(
            text(
                "INSERT INTO broker_scripts (id, login, name, script, autostart, type, created_at, updated_at) "
                "VALUES (:id, :login, :name, :script, :autostart, 'private', :now, :now)"
            ),
            {
                "id": sid,
                "login": acc.login,
                "name": name,
                "script": script,
                "autostart": autostart,
                "now": now,
            },
        )
        await self.commit(work)
        return sid

    async def update_script(self, acc: Account, sid: int, changes: dict[str, Any]) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in changes)
        params = dict(changes, id=sid, login=acc.login, now=self.now_s())
        stmt = text(
            f"UPDATE broker_scripts SET {sets}{', ' if sets else ''}updated_at = :now "
            "WHERE id = :id AND login = :login"
        )

        def run(conn: Connection, emit: Callable[..., None]) -> None:
            if conn.execute(stmt, params).rowcount == 0:
                raise NotFound(f"no script {sid} on login {acc.login}", code="NOT_FOUND")

        await self.streams.transact(run)

    async def delete_script(self, acc: Account, sid: int) -> None:
        stmt = text("DELETE FROM broker_scripts WHERE id = :id AND login = :login")

        def run(conn: Connection, emit: Callable[..., None]) -> None:
            if conn.execute(stmt, {"id": sid, "login": acc.login}).rowcount == 0:
                raise NotFound(f"no script {sid} on login {acc.login}", code="NOT_FOUND")

        await self.streams.transact(run)

    async def scripts(self, acc: Account) -> list[list[Any]]:
        stmt = text(
            "SELECT id, name, script, autostart, type, created_at, updated_at FROM broker_scripts "
            "WHERE login = :login ORDER BY id"
        )
        rows = await self.db.read(lambda c: c.execute(stmt, {"login": acc.login}).all())
        return [[int(r[0]), r[1], r[2], int(r[3]), r[4], int(r[5]), int(r[6])] for r in rows]

    async def settings(self, acc: Account) -> list[list[Any]]:
        stmt = text("SELECT key, value FROM broker_settings WHERE login = :login ORDER BY key")
        rows = await self.db.read(lambda c: c.execute(stmt, {"login": acc.login}).all())
        return [[r[0], orjson.loads(r[1])] for r in rows]

    async def merge_settings(self, acc: Account, values: dict[str, Any]) -> None:
        delete = text("DELETE FROM broker_settings WHERE login = :login AND key = :key")
        insert = text("INSERT INTO broker_settings (login, key, value) VALUES (:login, :key, :value)")
        work = Work()
        for k, v in values.items():
            work.sql(delete, {"login": acc.login, "key": k})
            if v is not None:
                work.sql(insert, {"login": acc.login, "key": k, "value": orjson.dumps(v).decode()})
        await self.commit(work)

    async def alert_logs(self, acc: Account) -> list[list[Any]]:
        stmt = text(
            "SELECT id, alert_id, login, symbol, indicator_name, message, side, condition, target_price, "
            "triggered_price, triggered_at, comment FROM broker_alert_logs WHERE login = :login ORDER BY id"
        )
        rows = await self.db.read(lambda c: c.execute(stmt, {"login": acc.login}).all())
        return [list(r) for r in rows]

    async def delete_alert_logs(self, acc: Account, log_id: int | None) -> None:
        if log_id is None:
            stmt = text("DELETE FROM broker_alert_logs WHERE login = :login")
            params: dict[str, Any] = {"login": acc.login}
        else:
            stmt = text("DELETE FROM broker_alert_logs WHERE login = :login AND id = :id")
            params = {"login": acc.login, "id": log_id}

        def run(conn: Connection, emit: Callable[..., None]) -> None:
            if conn.execute(stmt, params).rowcount == 0 and log_id is not None:
                raise NotFound(f"no alert log {log_id} on login {acc.login}", code="NOT_FOUND")

        await self.streams.transact(run)


__all__ = ["ALERT_ACTIVE", "ALERT_EXPIRED", "ALERT_TRIGGERED", "BrokerService", "Listener", "Work"]


def trade_from_row(r: Any) -> Trade:
    """A trade as stored in `broker_trades` (margin is set by the caller where it is needed)."""
    return Trade(
        order=int(r["order_id"]),
        login=int(r["login"]),
        cmd=int(r["cmd"]),
        state=int(r["state"]),
        status=r["status"],
        symbol=r["symbol"],
        volume=int(r["volume"]),
        open_price=float(r["open_price"]),
        digits=int(r["digits"]),
        open_time=int(r["open_time"]),
        close_price=float(r["close_price"]),
        close_time=int(r["close_time"]),
        sl=float(r["sl"]),
        tp=float(r["tp"]),
        expiration=int(r["expiration"]),
        profit=float(r["profit"]),
        commission=float(r["commission"]),
        storage=float(r["storage"]),
        comment=r["comment"],
        reason=int(r["reason"]),
    )
