"""Tables of the broker family (schema in its Alembic migrations `0003_broker`, `0007_broker_money`).

The service keeps accounts, open and pending trades, active alerts and watch lists in memory
and writes every change through the streams sequencer with SQLAlchemy Core; these classes
describe the schema for queries and tooling.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Column, Numeric, String, Text
from sqlmodel import Field, SQLModel


class BrokerUser(SQLModel, table=True):
    """A login: credentials, profile and account (balance in the account currency)."""

    __tablename__ = "broker_users"
    login: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
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
    balance: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(20, 2), nullable=False))
    credit: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(20, 2), nullable=False))
    regdate: int = Field(sa_column=Column(BigInteger, nullable=False))
    disabled: bool = False
    token_gen: int = 0


class BrokerRevokedToken(SQLModel, table=True):
    """A signed-out token (by jti), kept until it would have expired."""

    __tablename__ = "broker_revoked_tokens"
    jti: str = Field(sa_column=Column(String(64), primary_key=True))
    login: int = Field(sa_column=Column(BigInteger, nullable=False))
    exp: int = Field(sa_column=Column(BigInteger, nullable=False))


class BrokerTrade(SQLModel, table=True):
    """An order: open position, pending order, closed trade or finance row (`status`)."""

    __tablename__ = "broker_trades"
    order_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    login: int = Field(sa_column=Column(BigInteger, nullable=False))
    cmd: int
    state: int
    status: str  # open | pending | closed | cancelled | finance
    symbol: str = ""
    volume: int = 0
    open_price: float = 0.0
    close_price: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    open_time: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    close_time: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    expiration: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    profit: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(20, 2), nullable=False))
    commission: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(20, 2), nullable=False))
    storage: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(20, 2), nullable=False))
    comment: str = ""
    reason: int = 0
    margin: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(20, 2), nullable=False))
    digits: int = 0


class BrokerWatch(SQLModel, table=True):
    __tablename__ = "broker_watch"
    login: int = Field(sa_column=Column(BigInteger, primary_key=True))
    symbol: str = Field(sa_column=Column(String(32), primary_key=True))
    position: int = 0


class BrokerScript(SQLModel, table=True):
    __tablename__ = "broker_scripts"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    login: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    name: str
    script: str = Field(sa_column=Column(Text, nullable=False))
    autostart: int = 0
    type: str = "private"
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class BrokerSetting(SQLModel, table=True):
    __tablename__ = "broker_settings"
    login: int = Field(sa_column=Column(BigInteger, primary_key=True))
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))  # JSON


class BrokerAlert(SQLModel, table=True):
    __tablename__ = "broker_alerts"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    login: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    symbol: str
    indicator_name: str = ""
    message: str = ""
    side: int
    condition: int
    target_price: float | None = None
    channel_low: float | None = None
    channel_high: float | None = None
    move_threshold: float | None = None
    status: int = 0
    repeat_mode: int = 0
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    triggered_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    triggered_price: float | None = None
    reference_price: float | None = None
    reference_time: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    comment: str = ""


class BrokerAlertLog(SQLModel, table=True):
    __tablename__ = "broker_alert_logs"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    alert_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    login: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    symbol: str
    indicator_name: str = ""
    message: str = ""
    side: int
    condition: int
    target_price: float | None = None
    triggered_price: float
    triggered_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    comment: str = ""


class BrokerNotification(SQLModel, table=True):
    __tablename__ = "broker_notifications"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    login: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    level: int = 0
    title: str = ""
    message: str = ""
    ctm: int = Field(sa_column=Column(BigInteger, nullable=False))
