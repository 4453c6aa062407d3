"""Broker persistence: the SQL of every write, and `Work`, the unit that commits it with its events.

A `Work` collects the statements and account events of one change; `Work.run` executes them
inside the sequencer's transaction (SQLAlchemy Core, no ORM), so rows and events commit
together and in the order the changes were made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

FAMILY = "broker"

USER_COLS = (
    "login, password_hash, email, name, phone, country, city, address, state, zipcode, avatar, "
    "group_name, currency, leverage, balance, credit, regdate, disabled, token_gen"
)
INS_USER = text(
    f"INSERT INTO broker_users ({USER_COLS}) VALUES (:login, :password_hash, :email, :name, :phone, "
    ":country, :city, :address, :state, :zipcode, :avatar, :group_name, :currency, :leverage, :balance, "
    ":credit, :regdate, :disabled, :token_gen)"
)
UPD_USER = text(
    "UPDATE broker_users SET password_hash=:password_hash, email=:email, name=:name, phone=:phone, "
    "country=:country, city=:city, address=:address, state=:state, zipcode=:zipcode, avatar=:avatar, "
    "group_name=:group_name, currency=:currency, leverage=:leverage, balance=:balance, credit=:credit, "
    "disabled=:disabled, token_gen=:token_gen WHERE login=:login"
)
UPD_BALANCE = text("UPDATE broker_users SET balance=:balance WHERE login=:login")
TRADE_COLS = (
    "order_id, login, cmd, state, status, symbol, volume, open_price, close_price, sl, tp, open_time, "
    "close_time, expiration, profit, commission, storage, comment, reason, margin, digits"
)
INS_TRADE = text(
    f"INSERT INTO broker_trades ({TRADE_COLS}) VALUES (:order_id, :login, :cmd, :state, :status, :symbol, "
    ":volume, :open_price, :close_price, :sl, :tp, :open_time, :close_time, :expiration, :profit, "
    ":commission, :storage, :comment, :reason, :margin, :digits)"
)
UPD_TRADE = text(
    "UPDATE broker_trades SET cmd=:cmd, state=:state, status=:status, volume=:volume, open_price=:open_price, "
    "close_price=:close_price, sl=:sl, tp=:tp, open_time=:open_time, close_time=:close_time, "
    "expiration=:expiration, profit=:profit, commission=:commission, storage=:storage, comment=:comment, "
    "reason=:reason, margin=:margin WHERE order_id=:order_id"
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
