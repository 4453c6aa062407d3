"""Tables behind the sequenced streams and the persisted domain clock."""

from __future__ import annotations

from sqlalchemy import BigInteger, LargeBinary, String
from sqlmodel import Field, SQLModel

from app.models.columns import key, opt, req


class StreamHead(SQLModel, table=True):
    """The last sequence number allocated on one stream; advanced once per stream per batch."""

    __tablename__ = "stream_heads"
    family: str = key(String(32))
    stream: str = key(String(200))
    head: int = req(BigInteger, default=0)


class StreamEvent(SQLModel, table=True):
    """One committed event: its wire bytes exactly as every subscriber and replay sends them."""

    __tablename__ = "stream_events"
    family: str = key(String(32))
    stream: str = key(String(200))
    seq: int = key(BigInteger, autoincrement=False)
    ts_ms: int = req(BigInteger)
    kind: str = req(String(64))
    ref: str | None = opt(String(200))
    payload: bytes = req(LargeBinary)


class ClockState(SQLModel, table=True):
    """The domain clock's position, so a restart resumes where the clock stood."""

    __tablename__ = "clock_state"
    id: int = Field(default=1, primary_key=True)
    frozen: bool = Field(default=False)
    now_ms: int = req(BigInteger)


class Secret(SQLModel, table=True):
    """Process-wide secrets that must survive restarts (token-signing keys)."""

    __tablename__ = "secrets"
    name: str = key(String(64))
    value: str = req(String(512))
