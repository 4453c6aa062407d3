"""The Musubi SQL.

Writes run in the streams writer thread, inside its transaction, straight on the DBAPI cursor
(`Stmt`): this is the hot path of every order change, and SQLAlchemy's per-statement
execution machinery costs several times the statement itself. Reads are cold (start-up,
compliance records) and use SQLAlchemy Core `text()`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.engine.musubi.model import MUTABLE_ORDER_COLUMNS, ORDER_COLUMNS, QUOTE_COLUMNS


class Stmt:
    """A write statement with positional parameters in `cols` order, for either driver."""

    __slots__ = ("_sql", "cols", "template")

    def __init__(self, template: str, cols: tuple[str, ...]) -> None:
        self.template = template  # placeholders written as {p}
        self.cols = cols
        self._sql: dict[str, str] = {}

    def sql(self, placeholder: str) -> str:
        out = self._sql.get(placeholder)
        if out is None:
            out = self._sql[placeholder] = self.template.replace("{p}", placeholder)
        return out

    def args(self, params: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(params[c] for c in self.cols)


def _insert(table: str, cols: tuple[str, ...]) -> Stmt:
    return Stmt(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('{p}' for _ in cols)})", cols)


PARTICIPANT_COLUMNS = ("party_id", "name", "role", "client_id", "client_secret", "simulated", "created_at")
INSERT_PARTICIPANT = _insert("musubi_participants", PARTICIPANT_COLUMNS)
SELECT_PARTICIPANTS = text(f"SELECT {', '.join(PARTICIPANT_COLUMNS)} FROM musubi_participants")

INSERT_ORDER = _insert("musubi_orders", ORDER_COLUMNS)
UPDATE_ORDER = Stmt(
    "UPDATE musubi_orders SET "
    + ", ".join(f"{c} = {{p}}" for c in MUTABLE_ORDER_COLUMNS)
    + " WHERE intent_id = {p}",
    (*MUTABLE_ORDER_COLUMNS, "intent_id"),
)
SELECT_ORDERS = text(f"SELECT {', '.join(ORDER_COLUMNS)} FROM musubi_orders ORDER BY created_at, intent_id")

INSERT_QUOTE = _insert("musubi_quotes", QUOTE_COLUMNS)
UPDATE_QUOTE = Stmt(
    "UPDATE musubi_quotes SET status = {p}, updated_at = {p} WHERE quote_id = {p}",
    ("status", "updated_at", "quote_id"),
)
SELECT_QUOTES = text(f"SELECT {', '.join(QUOTE_COLUMNS)} FROM musubi_quotes ORDER BY created_at, quote_id")

TRANSITION_COLUMNS = ("intent_id", "at", "actor", "action", "from_status", "to_status", "detail")
INSERT_TRANSITION = _insert("musubi_transitions", TRANSITION_COLUMNS)
SELECT_TRANSITIONS = text(
    "SELECT at, actor, action, from_status, to_status, detail FROM musubi_transitions "
    "WHERE intent_id = :intent_id ORDER BY id"
)

INSERT_IDEMPOTENCY = _insert("musubi_idempotency", ("party_id", "key", "intent_id", "response", "created_at"))
SELECT_IDEMPOTENCY = text("SELECT party_id, key, response FROM musubi_idempotency")

WIPE = (
    "DELETE FROM musubi_idempotency",
    "DELETE FROM musubi_transitions",
    "DELETE FROM musubi_quotes",
    "DELETE FROM musubi_orders",
    "DELETE FROM musubi_participants",
)
