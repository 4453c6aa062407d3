"""Broker persistence: every SQL statement, loading the `Book`, and `Work`, the write half of
a unit of work.

A `Work` collects the statements and account events of one change; `Work.run` is the unit's
`write(conn, emit)`, executed in the sequencer's transaction (SQLAlchemy Core, no ORM), so
rows and events commit together and in the order the changes were made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Numeric, bindparam, text
from sqlalchemy.engine import Connection

from app.engine.broker.model import (
    ALERT_ACTIVE,
    S_OPEN,
    Account,
    Alert,
    Book,
    Trade,
    currency_digits,
    dec,
    money,
)
from app.engine.broker.symbols import BY_NAME

FAMILY = "broker"
# money columns: NUMERIC(20, 2) (see the migration 0007_broker_money); Decimal in, Decimal out
MONEY = Numeric(20, 2, asdecimal=True)


def _money(stmt: Any, *names: str) -> Any:
    """`stmt` binding the named parameters as exact decimals (SQLite and PostgreSQL alike)."""
    return stmt.bindparams(*(bindparam(n, type_=MONEY) for n in names))


USER_COLS = (
    "login, password_hash, email, name, phone, country, city, address, state, zipcode, avatar, "
    "group_name, currency, leverage, balance, credit, regdate, disabled, token_gen"
)
INS_USER = _money(
    text(
        f"INSERT INTO broker_users ({USER_COLS}) VALUES (:login, :password_hash, :email, :name, :phone, "
        ":country, :city, :address, :state, :zipcode, :avatar, :group_name, :currency, :leverage, :balance, "
        ":credit, :regdate, :disabled, :token_gen)"
    ),
    "balance",
    "credit",
)
UPD_USER = _money(
    text(
        "UPDATE broker_users SET password_hash=:password_hash, email=:email, name=:name, phone=:phone, "
        "country=:country, city=:city, address=:address, state=:state, zipcode=:zipcode, avatar=:avatar, "
        "group_name=:group_name, currency=:currency, leverage=:leverage, balance=:balance, credit=:credit, "
        "disabled=:disabled, token_gen=:token_gen WHERE login=:login"
    ),
    "balance",
    "credit",
)
UPD_BALANCE = _money(text("UPDATE broker_users SET balance=:balance WHERE login=:login"), "balance")
TRADE_COLS = (
    "order_id, login, cmd, state, status, symbol, volume, open_price, close_price, sl, tp, open_time, "
    "close_time, expiration, profit, commission, storage, comment, reason, margin, digits"
)
INS_TRADE = _money(
    text(
        f"INSERT INTO broker_trades ({TRADE_COLS}) VALUES (:order_id, :login, :cmd, :state, :status, :symbol, "
        ":volume, :open_price, :close_price, :sl, :tp, :open_time, :close_time, :expiration, :profit, "
        ":commission, :storage, :comment, :reason, :margin, :digits)"
    ),
    "profit",
    "commission",
    "storage",
    "margin",
)
UPD_TRADE = _money(
    text(
        "UPDATE broker_trades SET cmd=:cmd, state=:state, status=:status, volume=:volume, open_price=:open_price, "
        "close_price=:close_price, sl=:sl, tp=:tp, open_time=:open_time, close_time=:close_time, "
        "expiration=:expiration, profit=:profit, commission=:commission, storage=:storage, comment=:comment, "
        "reason=:reason, margin=:margin WHERE order_id=:order_id"
    ),
    "profit",
    "commission",
    "storage",
    "margin",
)
INS_REVOKED = text("INSERT INTO broker_revoked_tokens (jti, login, exp) VALUES (:jti, :login, :exp)")
INS_WATCH = text("INSERT INTO broker_watch (login, symbol, position) VALUES (:login, :symbol, :position)")
DEL_WATCH = text("DELETE FROM broker_watch WHERE login=:login AND symbol=:symbol")
ALERT_COLS = (
    "id, login, symbol, indicator_name, message, side, condition, target_price, channel_low, channel_high, "
    "move_threshold, status, repeat_mode, created_at, updated_at, expires_at, triggered_at, triggered_price, "
    "reference_price, reference_time, comment"
)
INS_ALERT = text(
    f"INSERT INTO broker_alerts ({ALERT_COLS}) VALUES (:id, :login, :symbol, :indicator_name, :message, :side, "
    ":condition, :target_price, :channel_low, :channel_high, :move_threshold, :status, :repeat_mode, "
    ":created_at, :updated_at, :expires_at, :triggered_at, :triggered_price, :reference_price, "
    ":reference_time, :comment)"
)
UPD_ALERT = text(
    "UPDATE broker_alerts SET symbol=:symbol, indicator_name=:indicator_name, message=:message, side=:side, "
    "condition=:condition, target_price=:target_price, channel_low=:channel_low, channel_high=:channel_high, "
    "move_threshold=:move_threshold, status=:status, repeat_mode=:repeat_mode, updated_at=:updated_at, "
    "expires_at=:expires_at, triggered_at=:triggered_at, triggered_price=:triggered_price, "
    "reference_price=:reference_price, reference_time=:reference_time, comment=:comment WHERE id=:id"
)
DEL_ALERT = text("DELETE FROM broker_alerts WHERE id=:id")
INS_LOG = text(
    "INSERT INTO broker_alert_logs (id, alert_id, login, symbol, indicator_name, message, side, condition, "
    "target_price, triggered_price, triggered_at, comment) VALUES (:id, :alert_id, :login, :symbol, "
    ":indicator_name, :message, :side, :condition, :target_price, :triggered_price, :triggered_at, :comment)"
)
INS_NOTE = text(
    "INSERT INTO broker_notifications (id, login, level, title, message, ctm) "
    "VALUES (:id, :login, :level, :title, :message, :ctm)"
)
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
DEL_SETTING = text("DELETE FROM broker_settings WHERE login = :login AND key = :key")
INS_SETTING = text("INSERT INTO broker_settings (login, key, value) VALUES (:login, :key, :value)")
SEL_LOGS = text(
    "SELECT id, alert_id, login, symbol, indicator_name, message, side, condition, target_price, "
    "triggered_price, triggered_at, comment FROM broker_alert_logs WHERE login = :login ORDER BY id"
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
    """SQL statements and account events of one change, committed together, in order."""

    __slots__ = ("events", "ops")

    def __init__(self) -> None:
        self.ops: list[tuple[Any, Any]] = []
        self.events: list[tuple[int, list[Any]]] = []

    def sql(self, stmt: Any, params: Any) -> None:
        self.ops.append((stmt, params))

    def emit(self, login: int, frame: list[Any]) -> None:
        self.events.append((login, frame))

    def __bool__(self) -> bool:
        return bool(self.ops or self.events)

    def run(self, conn: Connection, emit: Callable[..., None]) -> None:
        for stmt, params in self.ops:
            conn.execute(stmt, params)
        for login, frame in self.events:
            emit(FAMILY, str(login), frame[0], frame)


def trade_from_row(r: Any) -> Trade:
    """A trade as stored in `broker_trades`."""
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
        profit=dec(r["profit"]),
        commission=dec(r["commission"]),
        storage=dec(r["storage"]),
        comment=r["comment"],
        reason=int(r["reason"]),
        margin=dec(r["margin"]),
    )


def account_from_row(u: Any) -> Account:
    digits = currency_digits(u["currency"])
    return Account(
        login=int(u["login"]),
        password_hash=u["password_hash"],
        email=u["email"],
        name=u["name"],
        group=u["group_name"],
        currency=u["currency"],
        leverage=int(u["leverage"]),
        balance=money(dec(u["balance"]), digits),
        credit=money(dec(u["credit"]), digits),
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
