"""Every SQL statement of the FIX sessions: their state row and their report runs.

Writers take a `Connection` and run inside `streams.transact` (the writer thread, one commit);
readers run through `db.read`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

_GET = text(
    "SELECT account, next_out_seq, next_in_seq, last_account_seq, last_event_hash FROM fix_sessions "
    "WHERE sender_comp_id = :s AND api_key_id = :k"
)
_INSERT = text(
    "INSERT INTO fix_sessions (sender_comp_id, api_key_id, account, next_out_seq, next_in_seq, "
    "last_account_seq, last_event_hash, updated_ms) VALUES (:s, :k, :a, :o, :i, :l, :h, :t)"
)
_UPDATE = text(
    "UPDATE fix_sessions SET account = :a, next_out_seq = :o, next_in_seq = :i, last_account_seq = :l, "
    "last_event_hash = :h, updated_ms = :t WHERE sender_comp_id = :s AND api_key_id = :k"
)
_DROP_RUNS = text("DELETE FROM fix_report_runs WHERE sender_comp_id = :s AND api_key_id = :k")
_ADD_RUN = text(
    "INSERT INTO fix_report_runs (sender_comp_id, api_key_id, out_seq, account_seq, count) "
    "VALUES (:s, :k, :o, :a, :c)"
)
_EXTEND_RUN = text(
    "UPDATE fix_report_runs SET count = :c WHERE sender_comp_id = :s AND api_key_id = :k AND out_seq = :o"
)
_LAST_RUN = text(
    "SELECT out_seq, account_seq, count FROM fix_report_runs WHERE sender_comp_id = :s AND api_key_id = :k "
    "ORDER BY out_seq DESC LIMIT 1"
)
_RUNS = text(
    "SELECT out_seq, account_seq, count FROM fix_report_runs WHERE sender_comp_id = :s AND api_key_id = :k "
    "AND out_seq <= :hi AND out_seq + count > :lo ORDER BY out_seq"
)
_LIST = text(
    "SELECT sender_comp_id, api_key_id, account, next_out_seq, next_in_seq, last_account_seq "
    "FROM fix_sessions ORDER BY sender_comp_id, api_key_id"
)


@dataclass(slots=True)
class Run:
    """MsgSeqNums out_seq … out_seq+count-1 carried account seqs account_seq … +count-1."""

    out_seq: int
    account_seq: int
    count: int

    def follows(self, out_seq: int, account_seq: int) -> bool:
        return out_seq == self.out_seq + self.count and account_seq == self.account_seq + self.count


@dataclass(slots=True)
class SessionRow:
    sender: str
    key_id: str
    account: str
    next_out: int
    next_in: int
    last_account_seq: int
    last_hash: str | None = None  # digest of the event at last_account_seq (None: none copied yet)
    last_run: Run | None = None


def digest(data: bytes) -> str:
    """The digest kept for the last event a session copied."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def load(conn: Connection, sender: str, key_id: str) -> SessionRow | None:
    row = conn.execute(_GET, {"s": sender, "k": key_id}).first()
    if row is None:
        return None
    last = conn.execute(_LAST_RUN, {"s": sender, "k": key_id}).first()
    run = Run(int(last[0]), int(last[1]), int(last[2])) if last else None
    h = None if row[4] is None else str(row[4])
    return SessionRow(sender, key_id, str(row[0]), int(row[1]), int(row[2]), int(row[3]), h, run)


def _params(row: SessionRow, now_ms: int) -> dict[str, Any]:
    return {
        "s": row.sender,
        "k": row.key_id,
        "a": row.account,
        "o": row.next_out,
        "i": row.next_in,
        "l": row.last_account_seq,
        "h": row.last_hash,
        "t": now_ms,
    }


def create(conn: Connection, row: SessionRow, now_ms: int) -> None:
    """A new session, or a reset one (141=Y): the state row replaced, its runs forgotten."""
    conn.execute(_DROP_RUNS, {"s": row.sender, "k": row.key_id})
    if conn.execute(_UPDATE, _params(row, now_ms)).rowcount == 0:
        conn.execute(_INSERT, _params(row, now_ms))


def save(conn: Connection, row: SessionRow, now_ms: int) -> None:
    conn.execute(_UPDATE, _params(row, now_ms))


def add_reports(conn: Connection, row: SessionRow, out_seq: int, account_seq: int, count: int) -> Run:
    """Record that MsgSeqNums out_seq… carry account seqs account_seq… (extends the last run
    when they continue it). Returns the run now last."""
    last = row.last_run
    if last is not None and last.follows(out_seq, account_seq):
        run = Run(last.out_seq, last.account_seq, last.count + count)
        conn.execute(_EXTEND_RUN, {"s": row.sender, "k": row.key_id, "o": run.out_seq, "c": run.count})
    else:
        run = Run(out_seq, account_seq, count)
        conn.execute(_ADD_RUN, {"s": row.sender, "k": row.key_id, "o": out_seq, "a": account_seq, "c": count})
    return run


def runs(conn: Connection, sender: str, key_id: str, lo: int, hi: int) -> list[Run]:
    """The runs overlapping MsgSeqNums lo … hi, in order."""
    rows = conn.execute(_RUNS, {"s": sender, "k": key_id, "lo": lo, "hi": hi}).all()
    return [Run(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def all_sessions(conn: Connection) -> list[SessionRow]:
    return [
        SessionRow(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
        for r in conn.execute(_LIST).all()
    ]
