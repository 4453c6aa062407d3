"""Tables behind the sequenced streams and the persisted domain clock."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, String
from sqlmodel import Field, SQLModel


class StreamHead(SQLModel, table=True):
    """The last sequence number allocated on one stream; advanced once per stream per batch."""

    __tablename__ = "stream_heads"
    family: str = Field(sa_column=Column(String(32), primary_key=True))
    stream: str = Field(sa_column=Column(String(200), primary_key=True))
    head: int = Field(sa_column=Column(BigInteger, nullable=False, default=0))


class StreamEvent(SQLModel, table=True):
    """One committed event: its wire bytes exactly as every subscriber and replay sends them."""

    __tablename__ = "stream_events"
    family: str = Field(sa_column=Column(String(32), primary_key=True))
    stream: str = Field(sa_column=Column(String(200), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    ref: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ClockState(SQLModel, table=True):
    """The domain clock's position, so a restart resumes where the clock stood."""

    __tablename__ = "clock_state"
    id: int = Field(default=1, primary_key=True)
    frozen: bool = Field(default=False)
    now_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Secret(SQLModel, table=True):
    """Process-wide secrets that must survive restarts (token-signing keys)."""

    __tablename__ = "secrets"
    name: str = Field(sa_column=Column(String(64), primary_key=True))
    value: str = Field(sa_column=Column(String(512), nullable=False))
