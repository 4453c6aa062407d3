"""Tables of the order entry family (schema in its Alembic migration)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String
from sqlmodel import SQLModel

from app.models.columns import key, opt, req


class OeAccount(SQLModel, table=True):
    """An engine account (`0x` + 40 hex) and its payload nonce floor."""

    __tablename__ = "oe_accounts"
    account: str = key(String(42))
    nonce_floor: int = req(BigInteger, default=0)
    created_ms: int = req(BigInteger)


class OeAgent(SQLModel, table=True):
    """An API key triple bound to one account: the secret encrypted, the passphrase hashed."""

    __tablename__ = "oe_agents"
    api_key_id: str = key(String(64))
    account: str = req(String(42), index=True)
    secret_enc: str = req(String(512))
    passphrase_hash: str = req(String(128))
    scopes: str = req(String(100))  # comma-separated
    revoked: bool = req(Boolean, default=False)
    demo: bool = req(Boolean, default=False)
    created_ms: int = req(BigInteger)


class OeBalance(SQLModel, table=True):
    """One account's balance of one asset, in the asset's smallest unit."""

    __tablename__ = "oe_balances"
    account: str = key(String(42))
    asset: str = key(String(16))
    free: int = req(BigInteger)
    reserved: int = req(BigInteger)


class OeOrder(SQLModel, table=True):
    """An order as of its last committed execution event (`PENDING`: admitted, not yet matched)."""

    __tablename__ = "oe_orders"
    order_id: str = key(String(32))
    order_no: int = req(BigInteger)
    account: str = req(String(42))
    client_order_id: str | None = opt(String(64))
    market: int = req(Integer)
    side: str = req(String(4))
    price: int = req(BigInteger)
    qty: int = req(BigInteger)
    leaves_qty: int = req(BigInteger)
    cum_qty: int = req(BigInteger)
    status: str = req(String(20))
    tif: str = req(String(10))
    created_ms: int = req(BigInteger)
    priority: int = req(BigInteger)


class OeIdempotency(SQLModel, table=True):
    """The first response to a batch with this `idempotencyKey`, per account."""

    __tablename__ = "oe_idempotency"
    account: str = key(String(42))
    idem_key: str = key(String(200))
    response: bytes = req(LargeBinary)
    created_ms: int = req(BigInteger)


class OeCounter(SQLModel, table=True):
    """Id counters that must survive restarts (fill ids)."""

    __tablename__ = "oe_counters"
    name: str = key(String(32))
    value: int = req(BigInteger)


class OeWsToken(SQLModel, table=True):
    """A single-use private WebSocket token (valid across restarts until it expires)."""

    __tablename__ = "oe_ws_tokens"
    token: str = key(String(64))
    account: str = req(String(42))
    api_key_id: str = req(String(64))
    expires_ms: int = req(BigInteger, index=True)
    used: bool = req(Boolean, default=False)
