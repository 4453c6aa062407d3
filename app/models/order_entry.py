"""Tables of the order entry family (schema in its Alembic migration)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel


class OeAccount(SQLModel, table=True):
    """An engine account (`0x` + 40 hex) and its payload nonce floor."""

    __tablename__ = "oe_accounts"
    account: str = Field(sa_column=Column(String(42), primary_key=True))
    nonce_floor: int = Field(sa_column=Column(BigInteger, nullable=False, default=0))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class OeAgent(SQLModel, table=True):
    """An API key triple bound to one account: the secret encrypted, the passphrase hashed."""

    __tablename__ = "oe_agents"
    api_key_id: str = Field(sa_column=Column(String(64), primary_key=True))
    account: str = Field(sa_column=Column(String(42), nullable=False, index=True))
    secret_enc: str = Field(sa_column=Column(String(512), nullable=False))
    passphrase_hash: str = Field(sa_column=Column(String(128), nullable=False))
    scopes: str = Field(sa_column=Column(String(100), nullable=False))  # comma-separated
    revoked: bool = Field(sa_column=Column(Boolean, nullable=False, default=False))
    demo: bool = Field(sa_column=Column(Boolean, nullable=False, default=False))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class OeBalance(SQLModel, table=True):
    """One account's balance of one asset, in the asset's smallest unit."""

    __tablename__ = "oe_balances"
    account: str = Field(sa_column=Column(String(42), primary_key=True))
    asset: str = Field(sa_column=Column(String(16), primary_key=True))
    free: int = Field(sa_column=Column(BigInteger, nullable=False))
    reserved: int = Field(sa_column=Column(BigInteger, nullable=False))


class OeOrder(SQLModel, table=True):
    """An order as of its last committed execution event (`PENDING`: admitted, not yet matched)."""

    __tablename__ = "oe_orders"
    order_id: str = Field(sa_column=Column(String(32), primary_key=True))
    order_no: int = Field(sa_column=Column(BigInteger, nullable=False))
    account: str = Field(sa_column=Column(String(42), nullable=False))
    client_order_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    market: int = Field(sa_column=Column(Integer, nullable=False))
    side: str = Field(sa_column=Column(String(4), nullable=False))
    price: int = Field(sa_column=Column(BigInteger, nullable=False))
    qty: int = Field(sa_column=Column(BigInteger, nullable=False))
    leaves_qty: int = Field(sa_column=Column(BigInteger, nullable=False))
    cum_qty: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False))
    tif: str = Field(sa_column=Column(String(10), nullable=False))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    priority: int = Field(sa_column=Column(BigInteger, nullable=False))


class OeIdempotency(SQLModel, table=True):
    """The first response to a batch with this `idempotencyKey`, per account."""

    __tablename__ = "oe_idempotency"
    account: str = Field(sa_column=Column(String(42), primary_key=True))
    idem_key: str = Field(sa_column=Column(String(200), primary_key=True))
    response: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class OeCounter(SQLModel, table=True):
    """Id counters that must survive restarts (fill ids)."""

    __tablename__ = "oe_counters"
    name: str = Field(sa_column=Column(String(32), primary_key=True))
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class OeWsToken(SQLModel, table=True):
    """A single-use private WebSocket token (valid across restarts until it expires)."""

    __tablename__ = "oe_ws_tokens"
    token: str = Field(sa_column=Column(String(64), primary_key=True))
    account: str = Field(sa_column=Column(String(42), nullable=False))
    api_key_id: str = Field(sa_column=Column(String(64), nullable=False))
    expires_ms: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    used: bool = Field(sa_column=Column(Boolean, nullable=False, default=False))
