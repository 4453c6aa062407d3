"""Tables of the broker family (schema in its Alembic migrations `0003_broker`, `0007_broker_money`).

The service keeps accounts, open and pending trades, active alerts and watch lists in memory
and writes every change through the streams sequencer with SQLAlchemy Core; these classes
describe the schema for queries and tooling.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Numeric, String, Text
from sqlmodel import SQLModel

from app.models.columns import key, opt, req


class BrokerUser(SQLModel, table=True):
    """A login: credentials, profile and account (balance in the account currency)."""

    __tablename__ = "broker_users"
    login: int = key(BigInteger, autoincrement=False)
    password_hash: str = req(String(255))
    email: str = ""
    name: str = ""
    phone: str = ""
    country: str = ""
    city: str = ""
    address: str = ""
    state: str = ""
    zipcode: str = ""
    avatar: str = ""
    group_name: str = "demo"
    currency: str = "USD"
    leverage: int = 100
    balance: Decimal = req(Numeric(20, 2), py_default=Decimal(0))
    credit: Decimal = req(Numeric(20, 2), py_default=Decimal(0))
    regdate: int = req(BigInteger)
    disabled: bool = False
    token_gen: int = 0


class BrokerRevokedToken(SQLModel, table=True):
    """A signed-out token (by jti), kept until it would have expired."""

    __tablename__ = "broker_revoked_tokens"
    jti: str = key(String(64))
    login: int = req(BigInteger)
    exp: int = req(BigInteger)


class BrokerTrade(SQLModel, table=True):
    """An order: open position, pending order, closed trade or finance row (`status`)."""

    __tablename__ = "broker_trades"
    order_id: int = key(BigInteger, autoincrement=False)
    login: int = req(BigInteger)
    cmd: int
    state: int
    status: str  # open | pending | closed | cancelled | finance
    symbol: str = ""
    volume: int = 0
    open_price: float = 0.0
    close_price: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    open_time: int = req(BigInteger, py_default=0)
    close_time: int = req(BigInteger, py_default=0)
    expiration: int = req(BigInteger, py_default=0)
    profit: Decimal = req(Numeric(20, 2), py_default=Decimal(0))
    commission: Decimal = req(Numeric(20, 2), py_default=Decimal(0))
    storage: Decimal = req(Numeric(20, 2), py_default=Decimal(0))
    comment: str = ""
    reason: int = 0
    margin: Decimal = req(Numeric(20, 2), py_default=Decimal(0))
    digits: int = 0


class BrokerWatch(SQLModel, table=True):
    __tablename__ = "broker_watch"
    login: int = key(BigInteger)
    symbol: str = key(String(32))
    position: int = 0


class BrokerScript(SQLModel, table=True):
    __tablename__ = "broker_scripts"
    id: int = key(BigInteger, autoincrement=False)
    login: int = req(BigInteger, index=True)
    name: str
    script: str = req(Text)
    autostart: int = 0
    type: str = "private"
    created_at: int = req(BigInteger)
    updated_at: int = req(BigInteger)


class BrokerSetting(SQLModel, table=True):
    __tablename__ = "broker_settings"
    login: int = key(BigInteger)
    key: str = key(String(255))
    value: str = req(Text)  # JSON


class AlertCondition(SQLModel):
    """What an alert watches: the columns an alert shares with the log of its triggers."""

    symbol: str
    indicator_name: str = ""
    message: str = ""
    side: int
    condition: int
    target_price: float | None = None


class BrokerAlert(AlertCondition, table=True):
    __tablename__ = "broker_alerts"
    id: int = key(BigInteger, autoincrement=False)
    login: int = req(BigInteger, index=True)
    channel_low: float | None = None
    channel_high: float | None = None
    move_threshold: float | None = None
    status: int = 0
    repeat_mode: int = 0
    created_at: int = req(BigInteger)
    updated_at: int = req(BigInteger)
    expires_at: int | None = opt(BigInteger)
    triggered_at: int | None = opt(BigInteger)
    triggered_price: float | None = None
    reference_price: float | None = None
    reference_time: int | None = opt(BigInteger)
    comment: str = ""


class BrokerAlertLog(AlertCondition, table=True):
    __tablename__ = "broker_alert_logs"
    id: int = key(BigInteger, autoincrement=False)
    alert_id: int = req(BigInteger)
    login: int = req(BigInteger, index=True)
    triggered_price: float
    triggered_at: int = req(BigInteger)
    comment: str = ""


class BrokerNotification(SQLModel, table=True):
    __tablename__ = "broker_notifications"
    id: int = key(BigInteger, autoincrement=False)
    login: int = req(BigInteger, index=True)
    level: int = 0
    title: str = ""
    message: str = ""
    ctm: int = req(BigInteger)
