"""Tables of the FIX drop-copy sessions (schema in the `fix` Alembic migration)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlmodel import SQLModel

from app.models.columns import key, opt, req


class FixSession(SQLModel, table=True):
    """One drop-copy session, (SenderCompID, apiKeyId): its MsgSeqNums both ways and the last
    account seq it has assigned a MsgSeqNum to."""

    __tablename__ = "fix_sessions"
    sender_comp_id: str = key(String(64))
    api_key_id: str = key(String(64))
    account: str = req(String(42))
    next_out_seq: int = req(BigInteger)
    next_in_seq: int = req(BigInteger)
    last_account_seq: int = req(BigInteger)
    # a digest of the event at last_account_seq: tells a wiped and refilled stream from the one copied
    last_event_hash: str | None = opt(String(32))
    updated_ms: int = req(BigInteger)


class FixReportRun(SQLModel, table=True):
    """A run of ExecutionReports: MsgSeqNums out_seq … out_seq+count-1 carried account seqs
    account_seq … account_seq+count-1 (one row per run, not per report)."""

    __tablename__ = "fix_report_runs"
    sender_comp_id: str = key(String(64))
    api_key_id: str = key(String(64))
    out_seq: int = key(BigInteger, autoincrement=False)
    account_seq: int = req(BigInteger)
    count: int = req(BigInteger)
