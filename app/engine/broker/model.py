"""The broker's domain objects: accounts, trades, alerts, quotes, their wire frames, the
in-memory `Book` that indexes them, and the outcomes the engine names for live sessions.

Accounts, open positions, pending orders and active alerts live in memory (the database holds
everything, written through the family's unit of work); closed trades, logs, scripts and
settings are read from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from app.clock import Timer
from app.engine.broker.symbols import CURRENCY_DIGITS, SYMBOLS

ZERO = Decimal(0)
MONEY_MAX = Decimal(10) ** 12  # no amount or balance beyond ±10^12 (CONTRACT §6)
_EXPONENTS = {d: Decimal(1).scaleb(-d) for d in range(9)}


def dec(value: Any) -> Decimal:
    """An exact Decimal of a stored or computed value (a float by its shortest repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def money(value: Decimal, digits: int = 2) -> Decimal:
    """`value` in a currency's digits, half away from zero."""
    return value.quantize(_EXPONENTS[digits], rounding=ROUND_HALF_UP)


def currency_digits(currency: str) -> int:
    return CURRENCY_DIGITS.get(currency, 2)


# cmd
BUY, SELL, BUY_LIMIT, SELL_LIMIT, BUY_STOP, SELL_STOP = 0, 1, 2, 3, 4, 5
BALANCE = 6  # finance rows (deposits / withdrawals)

# trade state (CONTRACT §3.3)
OPEN, PENDING, PENDING_ACTIVATED, MODIFIED, PENDING_CANCELLED, PARTIALLY_CLOSED, CLOSED = 1, 2, 3, 4, 5, 6, 7

# event code
CODE_CLIENT, CODE_SL, CODE_TP, CODE_STOP_OUT, CODE_EXPIRATION, CODE_CONTROL = 0, 1, 2, 3, 4, 5

# balance level_type [ours]
LEVEL_OK, LEVEL_MARGIN_CALL, LEVEL_STOP_OUT = 0, 1, 2

# internal status
S_OPEN, S_PENDING, S_CLOSED, S_CANCELLED, S_FINANCE = "open", "pending", "closed", "cancelled", "finance"

# alert status [ours]
ALERT_ACTIVE, ALERT_TRIGGERED, ALERT_EXPIRED = 0, 1, 2

PROFILE_COLUMNS = (
    "id",
    "login",
    "regdate",
    "leverage",
    "email",
    "avatar",
    "name",
    "phone",
    "address",
    "city",
    "state",
    "country",
    "zipcode",
    "group",
    "currency",
)
BALANCE_COLUMNS = (
    "login",
    "balance",
    "credit",
    "equity",
    "margin",
    "margin_free",
    "margin_level",
    "profit",
    "currency",
    "leverage",
    "level_type",
)
TRADE_COLUMNS = (
    "order",
    "login",
    "cmd",
    "state",
    "symbol",
    "reason",
    "volume",
    "open_time",
    "close_time",
    "open_price",
    "close_price",
    "sl",
    "tp",
    "profit",
    "net_profit",
    "commission",
    "storage",
    "comment",
    "digits",
    "expiration",
)
# what an alert watches, shared by the alert and the log of its triggers
_ALERT_CONDITION = ("symbol", "indicator_name", "message", "side", "condition", "target_price")
ALERT_COLUMNS = (
    "id",
    "login",
    *_ALERT_CONDITION,
    "channel_low",
    "channel_high",
    "move_threshold",
    "status",
    "repeat_mode",
    "created_at",
    "updated_at",
    "expires_at",
    "triggered_at",
    "triggered_price",
    "reference_price",
    "reference_time",
    "comment",
)
ALERT_LOG_COLUMNS = (
    "id",
    "alert_id",
    "login",
    *_ALERT_CONDITION,
    "triggered_price",
    "triggered_at",
    "comment",
)
SCRIPT_COLUMNS = ("id", "name", "script", "autostart", "type", "created_at", "updated_at")
# the columns of `broker_trades` and `broker_users`, in the order of the statements (store.py)
TRADE_TABLE_COLUMNS = (
    "order_id",
    "login",
    "cmd",
    "state",
    "status",
    "symbol",
    "volume",
    "open_price",
    "close_price",
    "sl",
    "tp",
    "open_time",
    "close_time",
    "expiration",
    "profit",
    "commission",
    "storage",
    "comment",
    "reason",
    "margin",
    "digits",
)
USER_TABLE_COLUMNS = (
    "login",
    "password_hash",
    "email",
    "name",
    "phone",
    "country",
    "city",
    "address",
    "state",
    "zipcode",
    "avatar",
    "group_name",
    "currency",
    "leverage",
    "balance",
    "credit",
    "regdate",
    "disabled",
    "token_gen",
)
# attribute of an `Account` / a `Trade` behind a column or wire field of another name
ACCOUNT_ATTRS = {"id": "login", "group_name": "group"}
TRADE_ATTRS = {"order_id": "order"}


@dataclass(slots=True)
class Quote:
    bid: float
    ask: float
    ctm: int  # epoch seconds (domain clock)


@dataclass(slots=True)
class Trade:
    order: int
    login: int
    cmd: int
    state: int
    status: str
    symbol: str
    volume: int
    open_price: float
    digits: int
    open_time: int
    close_price: float = 0.0
    close_time: int = 0
    sl: float = 0.0
    tp: float = 0.0
    expiration: int = 0
    profit: Decimal = ZERO
    commission: Decimal = ZERO
    storage: Decimal = ZERO
    comment: str = ""
    reason: int = 0
    margin: Decimal = ZERO
    timer: Timer | None = field(default=None, compare=False, repr=False)

    def row(self, profit: Decimal | None = None, close_price: float | None = None) -> list[Any]:
        """One `/trades` row (TRADE_COLUMNS)."""
        p = self.profit if profit is None else profit
        return [
            self.order,
            self.login,
            self.cmd,
            self.state,
            self.symbol,
            self.reason,
            self.volume,
            self.open_time,
            self.close_time,
            self.open_price,
            self.close_price if close_price is None else close_price,
            self.sl,
            self.tp,
            float(p),
            float(p + self.commission + self.storage),
            float(self.commission),
            float(self.storage),
            self.comment,
            self.digits,
            self.expiration,
        ]

    def frame(
        self,
        code: int,
        *,
        profit: Decimal | None = None,
        close_price: float | None = None,
        close_time: int | None = None,
        state: int | None = None,
    ) -> list[Any]:
        """The `o` frame (CONTRACT §3.4)."""
        return [
            "o",
            self.order,
            self.login,
            self.symbol,
            self.cmd,
            self.volume,
            self.open_price,
            self.close_price if close_price is None else close_price,
            self.open_time,
            self.close_time if close_time is None else close_time,
            self.tp,
            self.sl,
            self.state if state is None else state,
            float(self.storage),
            float(self.commission),
            float(self.profit if profit is None else profit),
            self.comment,
            code,
        ]


@dataclass(slots=True)
class Account:
    login: int
    password_hash: str
    email: str
    name: str
    group: str
    currency: str
    leverage: int
    balance: Decimal
    credit: Decimal
    regdate: int
    disabled: bool = False
    token_gen: int = 0
    phone: str = ""
    country: str = ""
    city: str = ""
    address: str = ""
    state: str = ""
    zipcode: str = ""
    avatar: str = ""
    positions: dict[int, Trade] = field(default_factory=dict)
    pending: dict[int, Trade] = field(default_factory=dict)
    watch: list[str] = field(default_factory=list)

    @property
    def digits(self) -> int:
        """The account currency's digits: every amount of the account is exact in them."""
        return currency_digits(self.currency)

    def profile(self) -> dict[str, Any]:
        return {c: getattr(self, ACCOUNT_ATTRS.get(c, c)) for c in PROFILE_COLUMNS}


@dataclass(slots=True)
class Alert:
    id: int
    login: int
    symbol: str
    side: int
    condition: int
    created_at: int
    updated_at: int
    indicator_name: str = ""
    message: str = ""
    target_price: float | None = None
    channel_low: float | None = None
    channel_high: float | None = None
    move_threshold: float | None = None
    status: int = ALERT_ACTIVE
    repeat_mode: int = 0
    expires_at: int | None = None
    triggered_at: int | None = None
    triggered_price: float | None = None
    reference_price: float | None = None
    reference_time: int | None = None
    comment: str = ""
    armed: bool = True  # level conditions in repeating mode re-arm once the condition is false
    timer: Timer | None = field(default=None, compare=False, repr=False)

    def row(self) -> list[Any]:
        return [getattr(self, c) for c in ALERT_COLUMNS]


@dataclass(slots=True)
class Metrics:
    balance: Decimal
    credit: Decimal
    equity: Decimal
    margin: Decimal
    margin_free: Decimal
    margin_level: Decimal
    profit: Decimal
    level_type: int


class SessionEnded(Exception):
    """Why the engine ends a live session; the transport maps each outcome to its close code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionRevoked(SessionEnded):
    """The session's token no longer works: password changed, signed out, login disabled."""


class ServerReset(SessionEnded):
    """The control API wiped the broker's state."""


class Listener(Protocol):
    """A live WebSocket session as the engine sees it."""

    login: int
    jti: str

    def push_tick(self, frame: str) -> None: ...

    def end(self, outcome: SessionEnded) -> None: ...


class Book:
    """Everything the broker keeps in memory, with its indexes; rebuilt whole from the database."""

    def __init__(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.by_email: dict[str, int] = {}
        self.positions_by_symbol: dict[str, dict[int, Trade]] = {s.symbol: {} for s in SYMBOLS}
        self.pending_by_symbol: dict[str, dict[int, Trade]] = {s.symbol: {} for s in SYMBOLS}
        self.open_logins: set[int] = set()
        self.alerts: dict[int, Alert] = {}
        self.alerts_by_symbol: dict[str, dict[int, Alert]] = {s.symbol: {} for s in SYMBOLS}
        self.revoked: set[str] = set()
        self.quotes: dict[str, Quote] = {}
        self.next_login = 1001
        self.next_order = 100_001
        self.next_alert = 1
        self.next_log = 1
        self.next_script = 1
        self.next_note = 1

    def order_id(self) -> int:
        order = self.next_order
        self.next_order += 1
        return order

    def index_position(self, acc: Account, t: Trade) -> None:
        acc.positions[t.order] = t
        self.positions_by_symbol[t.symbol][t.order] = t
        self.open_logins.add(acc.login)

    def unindex_position(self, acc: Account, t: Trade) -> None:
        acc.positions.pop(t.order, None)
        self.positions_by_symbol[t.symbol].pop(t.order, None)
        if not acc.positions:
            self.open_logins.discard(acc.login)

    def index_pending(self, acc: Account, t: Trade) -> None:
        acc.pending[t.order] = t
        self.pending_by_symbol[t.symbol][t.order] = t

    def unindex_pending(self, acc: Account, t: Trade) -> None:
        acc.pending.pop(t.order, None)
        self.pending_by_symbol[t.symbol].pop(t.order, None)
        if t.timer is not None:
            t.timer.cancel()
            t.timer = None

    def timers(self) -> list[Trade | Alert]:
        """Everything that may hold a domain timer (pending expirations, alert expiries)."""
        out: list[Trade | Alert] = [t for acc in self.accounts.values() for t in acc.pending.values()]
        out.extend(self.alerts.values())
        return out
