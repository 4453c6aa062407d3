"""The Musubi SQL: Core statements only (the writer thread runs them inside its transaction)."""

from __future__ import annotations

from sqlalchemy import text

from app.engine.musubi.model import MUTABLE_ORDER_COLUMNS, ORDER_COLUMNS, QUOTE_COLUMNS


def _insert(table: str, cols: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"


PARTICIPANT_COLUMNS = ("party_id", "name", "role", "client_id", "client_secret", "simulated", "created_at")
INSERT_PARTICIPANT = text(_insert("musubi_participants", PARTICIPANT_COLUMNS))
SELECT_PARTICIPANTS = text(f"SELECT {', '.join(PARTICIPANT_COLUMNS)} FROM musubi_participants")

INSERT_ORDER = text(_insert("musubi_orders", ORDER_COLUMNS))
UPDATE_ORDER = text(
    "UPDATE musubi_orders SET "
    + ", ".join(f"{c} = :{c}" for c in MUTABLE_ORDER_COLUMNS)
    + " WHERE intent_id = :intent_id"
)
SELECT_ORDERS = text(f"SELECT {', '.join(ORDER_COLUMNS)} FROM musubi_orders ORDER BY created_at, intent_id")

INSERT_QUOTE = text(_insert("musubi_quotes", QUOTE_COLUMNS))
UPDATE_QUOTE = text(
    "UPDATE musubi_quotes SET status = :status, updated_at = :updated_at WHERE quote_id = :quote_id"
)
SELECT_QUOTES = text(f"SELECT {', '.join(QUOTE_COLUMNS)} FROM musubi_quotes ORDER BY created_at, quote_id")

TRANSITION_COLUMNS = ("intent_id", "at", "actor", "action", "from_status", "to_status", "detail")
INSERT_TRANSITION = text(_insert("musubi_transitions", TRANSITION_COLUMNS))
SELECT_TRANSITIONS = text(
    "SELECT at, actor, action, from_status, to_status, detail FROM musubi_transitions "
    "WHERE intent_id = :intent_id ORDER BY id"
)

INSERT_IDEMPOTENCY = text(
    _insert("musubi_idempotency", ("party_id", "key", "intent_id", "response", "created_at"))
)
SELECT_IDEMPOTENCY = text("SELECT party_id, key, response FROM musubi_idempotency")

WIPE = (
    "DELETE FROM musubi_idempotency",
    "DELETE FROM musubi_transitions",
    "DELETE FROM musubi_quotes",
    "DELETE FROM musubi_orders",
    "DELETE FROM musubi_participants",
)
