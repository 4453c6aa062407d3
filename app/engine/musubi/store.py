"""The Musubi SQL, and the one way Musubi changes its state: `Store.commit(changes)`.

`commit` hands a staged `Changes` to the streams unit of work: its rows and events are written
in one transaction, and memory takes the new snapshots only after COMMIT (`Memory.apply`). A
failed write leaves memory untouched; the unit of work then rebuilds it from these tables
(`Store.load`).

Writes run in the streams writer thread, inside its transaction, straight on the DBAPI cursor
(`app.engine.statement`): this is the hot path of every order change, and SQLAlchemy's per-statement
execution machinery costs several times the statement itself. Reads are cold (start-up,
compliance records) and use SQLAlchemy Core `text()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from operator import attrgetter
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.db import Database
from app.engine.musubi.model import (
    FAMILY,
    MUTABLE_ORDER_COLUMNS,
    ORDER_COLUMNS,
    QUOTE_COLUMNS,
    TRANSITION_COLUMNS,
    Changes,
    Memory,
    Order,
    Participant,
    Quote,
)
from app.engine.statement import Statement, insert_sql
from app.engine.streams import Emit, Streams


def _insert(table: str, cols: tuple[str, ...]) -> Statement:
    return Statement(insert_sql(table, cols))


PARTICIPANT_COLUMNS = ("party_id", "name", "role", "client_id", "client_secret", "simulated", "created_at")
INSERT_PARTICIPANT = _insert("musubi_participants", PARTICIPANT_COLUMNS)
SELECT_PARTICIPANTS = text(f"SELECT {', '.join(PARTICIPANT_COLUMNS)} FROM musubi_participants")

INSERT_ORDER = _insert("musubi_orders", ORDER_COLUMNS)
UPDATE_ORDER = Statement(
    "UPDATE musubi_orders SET "
    + ", ".join(f"{c} = :{c}" for c in MUTABLE_ORDER_COLUMNS)
    + " WHERE intent_id = :intent_id"
)
SELECT_ORDERS = text(f"SELECT {', '.join(ORDER_COLUMNS)} FROM musubi_orders ORDER BY created_at, intent_id")

INSERT_QUOTE = _insert("musubi_quotes", QUOTE_COLUMNS)
UPDATE_QUOTE = Statement(
    "UPDATE musubi_quotes SET status = :status, updated_at = :updated_at WHERE quote_id = :quote_id"
)
SELECT_QUOTES = text(f"SELECT {', '.join(QUOTE_COLUMNS)} FROM musubi_quotes ORDER BY created_at, quote_id")

INSERT_TRANSITION = _insert("musubi_transitions", TRANSITION_COLUMNS)
SELECT_TRANSITIONS = text(
    "SELECT at, actor, action, from_status, to_status, detail FROM musubi_transitions "
    "WHERE intent_id = :intent_id ORDER BY id"
)

INSERT_IDEMPOTENCY = _insert("musubi_idempotency", ("party_id", "key", "intent_id", "response", "created_at"))

# a snapshot's row, in its statement's column order
_participant_row = attrgetter(*PARTICIPANT_COLUMNS)
_order_row = attrgetter(*ORDER_COLUMNS)
_order_update_row = attrgetter(*MUTABLE_ORDER_COLUMNS, "intent_id")
_quote_row = attrgetter(*QUOTE_COLUMNS)
_quote_update_row = attrgetter("status", "updated_at", "quote_id")
SELECT_IDEMPOTENCY = text("SELECT party_id, key, response FROM musubi_idempotency")

WIPE = (
    "DELETE FROM musubi_idempotency",
    "DELETE FROM musubi_transitions",
    "DELETE FROM musubi_quotes",
    "DELETE FROM musubi_orders",
    "DELETE FROM musubi_participants",
)


def _statements(ch: Changes) -> list[tuple[Statement, list[tuple[Any, ...]]]]:
    """The rows of a unit, one batch per statement, in foreign-key order: participants,
    orders, quotes, records."""
    orders, quotes = ch.orders, ch.quotes
    batches = (
        (INSERT_PARTICIPANT, [_participant_row(p) for p in ch.participants]),
        (INSERT_ORDER, [_order_row(o) for i, o in orders.items() if i in ch.new_orders]),
        (UPDATE_ORDER, [_order_update_row(o) for i, o in orders.items() if i not in ch.new_orders]),
        (INSERT_QUOTE, [_quote_row(q) for i, q in quotes.items() if i in ch.new_quotes]),
        (UPDATE_QUOTE, [_quote_update_row(q) for i, q in quotes.items() if i not in ch.new_quotes]),
        (INSERT_TRANSITION, ch.transitions),
        (INSERT_IDEMPOTENCY, ch.idempotency),
    )
    return [(stmt, rows) for stmt, rows in batches if rows]


class Store:
    """Musubi's tables behind the streams unit of work."""

    def __init__(
        self, db: Database, streams: Streams, memory: Memory, reload: Callable[[], Awaitable[None]]
    ) -> None:
        self.db = db
        self.memory = memory
        self.uow = streams.unit_of_work(FAMILY, reload)

    async def commit(self, ch: Changes) -> None:
        """Write `ch` (rows + events, one transaction), then apply it to memory."""
        ops = _statements(ch)
        ph = self.db.placeholder

        def write(conn: Connection, emit: Emit) -> None:
            if ops:
                # the DBAPI cursor of the writer's connection: inside its transaction/SAVEPOINT
                cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    for stmt, rows in ops:
                        cur.executemany(stmt.sql(ph), rows)
                finally:
                    cur.close()
            for stream, kind, body, ref in ch.events:
                emit(FAMILY, stream, kind, body, ref)

        await self.uow.commit(write, lambda _: self.memory.apply(ch))

    async def wipe(self) -> None:
        """Delete every Musubi row; memory empties with the commit."""

        def write(conn: Connection, emit: Emit) -> None:
            for stmt in WIPE:
                conn.exec_driver_sql(stmt)

        await self.uow.commit(write, lambda _: self.memory.clear())

    async def load(self) -> Memory:
        """Everything, read from the tables into a fresh `Memory`."""

        def read(conn: Connection) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
            return (
                list(conn.execute(SELECT_PARTICIPANTS).all()),
                list(conn.execute(SELECT_ORDERS).all()),
                list(conn.execute(SELECT_QUOTES).all()),
                list(conn.execute(SELECT_IDEMPOTENCY).all()),
            )

        parts, orders, quotes, idem = await self.db.read(read)
        m = Memory()
        for r in parts:
            m.put_participant(Participant(r[0], r[1], r[2], r[3], r[4], bool(r[5]), int(r[6])))
        for r in orders:
            m.put_order(Order(**dict(zip(ORDER_COLUMNS, r, strict=True))))
        for r in quotes:
            m.put_quote(Quote(**dict(zip(QUOTE_COLUMNS, r, strict=True))))
        for r in idem:
            m.idempotency[(r[0], r[1])] = bytes(r[2])
        return m

    async def participant_keys(self) -> tuple[set[str], set[str]]:
        """The party ids and client ids already stored (seeding adds only what is missing)."""
        rows = await self.db.read(lambda c: c.execute(SELECT_PARTICIPANTS).all())
        return {r[0] for r in rows}, {r[3] for r in rows}

    async def transitions(self, intent_id: str) -> list[Any]:
        return list(
            await self.db.read(lambda c: c.execute(SELECT_TRANSITIONS, {"intent_id": intent_id}).all())
        )
