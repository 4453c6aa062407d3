"""Tables of the FIX drop-copy sessions (schema in the `fix` Alembic migration)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, SQLModel


class FixSession(SQLModel, table=True):
    """One drop-copy session, (SenderCompID, apiKeyId): its MsgSeqNums both ways and the last
    account seq it has assigned a MsgSeqNum to."""

    __tablename__ = "fix_sessions"
    sender_comp_id: str = Field(sa_column=Column(String(64), primary_key=True))
    api_key_id: str = Field(sa_column=Column(String(64), primary_key=True))
    account: str = Field(sa_column=Column(String(42), nullable=False))
    next_out_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    next_in_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_account_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    # a digest of the event at last_account_seq: tells a wiped and refilled stream from the one copied
    last_event_hash: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class FixReportRun(SQLModel, table=True):
    """A run of ExecutionReports: MsgSeqNums out_seq … out_seq+count-1 carried account seqs
    account_seq … account_seq+count-1 (one row per run, not per report)."""

    __tablename__ = "fix_report_runs"
    sender_comp_id: str = Field(sa_column=Column(String(64), primary_key=True))
    api_key_id: str = Field(sa_column=Column(String(64), primary_key=True))
    out_seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    account_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    count: int = Field(sa_column=Column(BigInteger, nullable=False))
