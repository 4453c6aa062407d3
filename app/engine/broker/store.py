"""Broker persistence: every SQL statement, loading the `Book`, and `Work`, the write half of
a unit of work.

A `Work` collects the statements and account events of one change; `Work.run` is the unit's
`write(conn, emit)`, executed in the sequencer's transaction, so rows and events commit
together and in the order the changes were made. Its statements (`Stmt`) go straight to the
driver's cursor on the writer's connection, like the stream statements (sequencer.py): no
SQLAlchemy execution context per statement on the write path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from app.engine.broker.model import (
    ACCOUNT_ATTRS,
    ALERT_ACTIVE,
    ALERT_COLUMNS,
    ALERT_LOG_COLUMNS,
    S_OPEN,
    TRADE_ATTRS,
    TRADE_TABLE_COLUMNS,
    USER_TABLE_COLUMNS,
    Account,
    Alert,
    Book,
    Trade,
    dec,
    money,
)
from app.engine.broker.symbols import BY_NAME
from app.engine.statement import Statement, insert_sql

FAMILY = "broker"


class Stmt(Statement):
    """A statement of a `Work` (`app.engine.statement`), run with positional parameters in the
    driver's style (`?` sqlite3, `%s` psycopg).

    Money columns are NUMERIC(20, 2) (migration 0007_broker_money): psycopg binds the `Decimal`
    itself; sqlite3 has no decimal type, so `money` parameters are bound as floats there, as
    SQLAlchemy's `Numeric` does, and read back as the same decimals (`dec`, then `money`).
    `attrs` (column → attribute of another name) lets `values` read the parameters off an
    object, in statement order.
    """

    __slots__ = ("money", "values")

    def __init__(self, sql: str, money: tuple[str, ...] = (), attrs: dict[str, str] | None = None) -> None:
        super().__init__(sql)
        self.money = tuple(i for i, n in enumerate(self.names) if n in money)
        self.values: Callable[[Any], tuple[Any, ...]] | None = None
        if attrs is not None and len(self.names) > 1:
            self.values = attrgetter(*(attrs.get(n, n) for n in self.names))

    def params(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple([values[n] for n in self.names])


def _update(table: str, columns: tuple[str, ...], key: str, *fixed: str) -> str:
    """`UPDATE` of every column but the `key` and the `fixed` ones, by `key`."""
    sets = ", ".join(f"{c}=:{c}" for c in columns if c != key and c not in fixed)
    return f"UPDATE {table} SET {sets} WHERE {key}=:{key}"


USER_COLS = ", ".join(USER_TABLE_COLUMNS)
_USER_MONEY = ("balance", "credit")
INS_USER = Stmt(insert_sql("broker_users", USER_TABLE_COLUMNS), _USER_MONEY, ACCOUNT_ATTRS)
UPD_USER = Stmt(_update("broker_users", USER_TABLE_COLUMNS, "login", "regdate"), _USER_MONEY, ACCOUNT_ATTRS)
UPD_BALANCE = Stmt("UPDATE broker_users SET balance=:balance WHERE login=:login", ("balance",))
TRADE_COLS = ", ".join(TRADE_TABLE_COLUMNS)
_TRADE_MONEY = ("profit", "commission", "storage", "margin")
INS_TRADE = Stmt(insert_sql("broker_trades", TRADE_TABLE_COLUMNS), _TRADE_MONEY, TRADE_ATTRS)
UPD_TRADE = Stmt(
    _update("broker_trades", TRADE_TABLE_COLUMNS, "order_id", "login", "symbol", "digits"),
    _TRADE_MONEY,
    TRADE_ATTRS,
)
INS_REVOKED = Stmt("INSERT INTO broker_revoked_tokens (jti, login, exp) VALUES (:jti, :login, :exp)")
INS_WATCH = Stmt("INSERT INTO broker_watch (login, symbol, position) VALUES (:login, :symbol, :position)")
DEL_WATCH = Stmt("DELETE FROM broker_watch WHERE login=:login AND symbol=:symbol")
ALERT_COLS = ", ".join(ALERT_COLUMNS)
INS_ALERT = Stmt(insert_sql("broker_alerts", ALERT_COLUMNS), attrs={})
UPD_ALERT = Stmt(_update("broker_alerts", ALERT_COLUMNS, "id", "login", "created_at"), attrs={})
DEL_ALERT = Stmt("DELETE FROM broker_alerts WHERE id=:id")
INS_LOG = Stmt(insert_sql("broker_alert_logs", ALERT_LOG_COLUMNS))
INS_NOTE = Stmt(insert_sql("broker_notifications", ("id", "login", "level", "title", "message", "ctm")))
INS_SCRIPT = text(
    "INSERT INTO broker_scripts (id, login, name, script, autostart, type, created_at, updated_at) "
    "VALUES (:id, :login, :name, :script, :autostart, 'private', :now, :now)"
)
DEL_SCRIPT = text("DELETE FROM broker_scripts WHERE id = :id AND login = :login")
SEL_SCRIPTS = text(
    "SELECT id, name, script, autostart, type, created_at, updated_at FROM broker_scripts "
    "WHERE login = :login ORDER BY id"
)
SEL_SETTINGS = text("SELECT key, value FROM broker_settings WHERE login = :login ORDER BY key")
DEL_SETTING = Stmt("DELETE FROM broker_settings WHERE login = :login AND key = :key")
INS_SETTING = Stmt("INSERT INTO broker_settings (login, key, value) VALUES (:login, :key, :value)")
SEL_LOGS = text(
    f"SELECT {', '.join(ALERT_LOG_COLUMNS)} FROM broker_alert_logs WHERE login = :login ORDER BY id"
)
DEL_LOGS = text("DELETE FROM broker_alert_logs WHERE login = :login")
DEL_LOG = text("DELETE FROM broker_alert_logs WHERE login = :login AND id = :id")
SEL_HISTORY = text(
    f"SELECT {TRADE_COLS} FROM broker_trades WHERE login = :login AND status IN :statuses"
).bindparams(bindparam("statuses", expanding=True))
SEL_MAX_IDS = text(
    "SELECT (SELECT MAX(login) FROM broker_users), (SELECT MAX(order_id) FROM broker_trades), "
    "(SELECT MAX(id) FROM broker_alerts), (SELECT MAX(id) FROM broker_alert_logs), "
    "(SELECT MAX(id) FROM broker_scripts), (SELECT MAX(id) FROM broker_notifications)"
)


def update_script(changes: dict[str, Any]) -> Any:
    """`UPDATE broker_scripts` of the given columns (names come from the validator, never the client)."""
    sets = "".join(f"{k} = :{k}, " for k in changes)
    return text(f"UPDATE broker_scripts SET {sets}updated_at = :now WHERE id = :id AND login = :login")


BROKER_TABLES = (
    "broker_notifications",
    "broker_alert_logs",
    "broker_alerts",
    "broker_settings",
    "broker_scripts",
    "broker_watch",
    "broker_trades",
    "broker_revoked_tokens",
    "broker_users",
)


class Work:
    """SQL statements and account events of one change, committed together, in order.

    A balance is written once per account and change, whatever the number of closes that
    moved it (`balance`): its value as staged last, after the change's other statements.
    """

    __slots__ = ("balances", "events", "ops")

    def __init__(self) -> None:
        self.ops: list[tuple[Stmt, tuple[Any, ...]]] = []
        self.balances: dict[int, Decimal] = {}
        self.events: list[tuple[int, list[Any]]] = []

    def sql(self, stmt: Stmt, params: dict[str, Any]) -> None:
        self.ops.append((stmt, stmt.params(params)))

    def row(self, stmt: Stmt, obj: Any) -> None:
        """`stmt` with its parameters read off `obj`'s attributes (a trade, an account, an alert)."""
        assert stmt.values is not None
        self.ops.append((stmt, stmt.values(obj)))

    def balance(self, acc: Account) -> None:
        self.balances[acc.login] = acc.balance

    def emit(self, login: int, frame: list[Any]) -> None:
        self.events.append((login, frame))

    def __bool__(self) -> bool:
        return bool(self.ops or self.balances or self.events)

    def run(self, conn: Connection, emit: Callable[..., None]) -> None:
        ops = self.ops
        if self.balances:
            ops = ops + [(UPD_BALANCE, (b, login)) for login, b in self.balances.items()]
        sqlite = conn.dialect.name == "sqlite"
        cur = conn.connection.cursor()
        try:
            for stmt, values in ops:
                if not sqlite:
                    cur.execute(stmt.format, values)
                elif stmt.money:
                    cur.execute(stmt.qmark, _floats(values, stmt.money))
                else:
                    cur.execute(stmt.qmark, values)
        finally:
            cur.close()
        for login, frame in self.events:
            emit(FAMILY, str(login), frame[0], frame)


def _floats(values: tuple[Any, ...], money: tuple[int, ...]) -> list[Any]:
    out = list(values)
    for i in money:
        out[i] = float(out[i])
    return out


# how a stored value becomes an attribute of its declared type (a `str` as it is)
_CASTS: dict[str, Callable[[Any], Any]] = {
    "int": int,
    "float": float,
    "bool": bool,
    "Decimal": dec,
    "str": str,
}


def _reader(cls: type[Any], columns: tuple[str, ...], attrs: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(column, attribute, cast) for each column of a row that builds a `cls`."""
    types = {f.name: f.type for f in fields(cls)}
    out = []
    for c in columns:
        attr = attrs.get(c, c)
        cast = _CASTS[str(types[attr])]
        out.append((c, attr, None if cast is str else cast))
    return out


_TRADE_READER = _reader(Trade, TRADE_TABLE_COLUMNS, TRADE_ATTRS)
_ACCOUNT_READER = _reader(Account, USER_TABLE_COLUMNS, ACCOUNT_ATTRS)


def trade_from_row(r: Any) -> Trade:
    """A trade as stored in `broker_trades`."""
    return Trade(**{a: r[c] if cast is None else cast(r[c]) for c, a, cast in _TRADE_READER})


def account_from_row(u: Any) -> Account:
    """An account as stored in `broker_users`, its money in the currency's digits."""
    acc = Account(**{a: u[c] if cast is None else cast(u[c]) for c, a, cast in _ACCOUNT_READER})
    acc.balance, acc.credit = money(acc.balance, acc.digits), money(acc.credit, acc.digits)
    return acc


def load(conn: Connection) -> Book:
    """The whole in-memory state, read from the database (quotes are the caller's)."""

    def q(sql: str) -> list[Any]:
        return list(conn.execute(text(sql)).mappings().all())

    book = Book()
    for u in q(f"SELECT {USER_COLS} FROM broker_users"):
        acc = account_from_row(u)
        book.accounts[acc.login] = acc
        if acc.email:
            book.by_email[acc.email.lower()] = acc.login
    for r in q(f"SELECT {TRADE_COLS} FROM broker_trades WHERE status IN ('open', 'pending')"):
        t = trade_from_row(r)
        owner = book.accounts.get(t.login)
        if owner is None or t.symbol not in BY_NAME:
            continue
        if t.status == S_OPEN:
            book.index_position(owner, t)
        else:
            book.index_pending(owner, t)
    for r in q(f"SELECT {ALERT_COLS} FROM broker_alerts"):
        a = Alert(**{k: r[k] for k in r.keys()})
        a.login, a.id = int(a.login), int(a.id)
        book.alerts[a.id] = a
        if a.status == ALERT_ACTIVE and a.symbol in BY_NAME:
            book.alerts_by_symbol[a.symbol][a.id] = a
    for r in q("SELECT login, symbol, position FROM broker_watch ORDER BY login, position"):
        watcher = book.accounts.get(int(r["login"]))
        if watcher is not None:
            watcher.watch.append(r["symbol"])
    book.revoked = {r["jti"] for r in q("SELECT jti FROM broker_revoked_tokens")}
    mx = conn.execute(SEL_MAX_IDS).first()
    assert mx is not None
    book.next_login = max(1001, int(mx[0] or 0) + 1)
    book.next_order = max(100_001, int(mx[1] or 0) + 1)
    book.next_alert = int(mx[2] or 0) + 1
    book.next_log = int(mx[3] or 0) + 1
    book.next_script = int(mx[4] or 0) + 1
    book.next_note = int(mx[5] or 0) + 1
    return book
