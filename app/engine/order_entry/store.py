"""Every SQL statement of the Order Entry venue: the pending writes of a unit of work, loading
the venue at start (and after a failed commit), agents, the demo seed, idempotent answers,
WebSocket tokens and the open-orders snapshot. Functions here run in the writer thread (inside
a unit of work) or in a read connection; they never touch memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.engine.order_entry.model import TERMINAL, Pending, VenueState, WsToken

FAMILY = "order-entry"
TABLES = (
    "oe_ws_tokens",
    "oe_idempotency",
    "oe_orders",
    "oe_balances",
    "oe_agents",
    "oe_accounts",
    "oe_counters",
)
_ORDER_COLS = (
    "order_id, order_no, account, client_order_id, market, side, price, qty, leaves_qty, cum_qty, "
    "status, tif, created_ms, priority"
)
_OPEN = "('NEW', 'PARTIALLY_FILLED', 'REPLACED')"


class Statements:
    """The upserts a unit of work runs, in the driver's placeholder style (executemany)."""

    def __init__(self, ph: str) -> None:
        self.orders = (
            f"INSERT INTO oe_orders ({_ORDER_COLS}) VALUES ({', '.join([ph] * 14)}) ON CONFLICT (order_id) "
            "DO UPDATE SET price = excluded.price, qty = excluded.qty, leaves_qty = excluded.leaves_qty, "
            "cum_qty = excluded.cum_qty, status = excluded.status, priority = excluded.priority"
        )
        self.balances = (
            f"INSERT INTO oe_balances (account, asset, free, reserved) VALUES ({ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (account, asset) DO UPDATE SET free = excluded.free, reserved = excluded.reserved"
        )
        self.floors = (
            f"INSERT INTO oe_accounts (account, nonce_floor, created_ms) VALUES ({ph}, {ph}, {ph}) "
            "ON CONFLICT (account) DO UPDATE SET nonce_floor = excluded.nonce_floor"
        )
        self.idempotency = (
            f"INSERT INTO oe_idempotency (account, idem_key, response, created_ms) VALUES ({ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (account, idem_key) DO NOTHING"
        )
        self.counter = (
            f"INSERT INTO oe_counters (name, value) VALUES ({ph}, {ph}) ON CONFLICT (name) DO UPDATE SET "
            "value = CASE WHEN excluded.value > oe_counters.value THEN excluded.value ELSE oe_counters.value END"
        )

    def write(self, conn: Connection, rows: Rows) -> None:
        """Every pending row, through the driver's cursor on the writer's connection (its
        transaction and savepoint), without SQLAlchemy's per-statement execution context."""
        cur = conn.connection.cursor()
        try:
            for sql, batch in (
                (self.floors, rows.floors),
                (self.orders, rows.orders),
                (self.balances, rows.balances),
                (self.idempotency, rows.idempotency),
                (self.counter, rows.counters),
            ):
                if batch:
                    cur.executemany(sql, batch)
        finally:
            cur.close()


@dataclass(slots=True)
class Rows:
    floors: list[tuple[Any, ...]]
    orders: list[tuple[Any, ...]]
    balances: list[tuple[Any, ...]]
    idempotency: list[tuple[Any, ...]]
    counters: list[tuple[Any, ...]]


def pending_rows(pending: Pending, venue: VenueState, now: int) -> Rows:
    """The rows of what changed since the last unit, taken from the accounts' dirty marks (which
    are cleared) and the touched orders."""
    floors: list[tuple[Any, ...]] = []
    balances: list[tuple[Any, ...]] = []
    idem: list[tuple[Any, ...]] = []
    for acct in pending.accounts.values():
        a = acct.account
        if acct.floor_dirty:
            floors.append((a, acct.nonce_floor, now))
            acct.floor_dirty = False
        if acct.dirty_assets:
            bals = acct.balances
            balances.extend((a, s, *bals[s]) for s in acct.dirty_assets)
            acct.dirty_assets = set()
        if acct.new_idempotency:
            idem.extend((a, k, r, t) for k, r, t in acct.new_idempotency)
            acct.new_idempotency = []
    orders: list[tuple[Any, ...]] = []
    for o in pending.orders.values():
        if o.status in TERMINAL and not o.persisted:
            continue  # born and finished since the last commit: its events tell it all
        o.persisted = True
        orders.append(
            (
                o.order_id,
                o.order_no,
                o.account,
                o.client_order_id,
                o.market,
                o.side,
                o.price,
                o.qty,
                o.leaves_qty,
                o.cum_qty,
                o.status,
                o.tif,
                o.created_ms,
                o.priority,
            )
        )
    counters: list[tuple[Any, ...]] = (
        [("fill", venue.next_fill_no - 1), ("order", venue.next_order_no - 1)] if pending.counters else []
    )
    return Rows(floors, orders, balances, idem, counters)


def load_all(conn: Connection) -> dict[str, Any]:
    """Everything the venue keeps in memory, as rows."""
    return {
        "accounts": conn.execute(text("SELECT account, nonce_floor FROM oe_accounts")).all(),
        "agents": conn.execute(
            text(
                "SELECT api_key_id, account, secret_enc, passphrase_hash, scopes, revoked, demo FROM oe_agents"
            )
        ).all(),
        "balances": conn.execute(text("SELECT account, asset, free, reserved FROM oe_balances")).all(),
        "orders": conn.execute(
            text(
                f"SELECT {_ORDER_COLS} FROM oe_orders "
                "WHERE status IN ('PENDING', 'NEW', 'PARTIALLY_FILLED', 'REPLACED') ORDER BY priority"
            )
        ).all(),
        "max_no": conn.execute(
            text("SELECT MAX(CASE WHEN priority > order_no THEN priority ELSE order_no END) FROM oe_orders")
        ).scalar(),
        "counters": dict(conn.execute(text("SELECT name, value FROM oe_counters")).all()),
    }


def idempotent_answer(conn: Connection, account: str, key: str) -> bytes | None:
    row = conn.execute(
        text("SELECT response FROM oe_idempotency WHERE account = :a AND idem_key = :k"),
        {"a": account, "k": key},
    ).first()
    return None if row is None else bytes(row[0])


def wipe(conn: Connection) -> None:
    for t in TABLES:
        conn.exec_driver_sql(f"DELETE FROM {t}")


# --- agents ----------------------------------------------------------------------------------------
_INSERT_AGENT = text(
    "INSERT INTO oe_agents (api_key_id, account, secret_enc, passphrase_hash, scopes, revoked, demo, created_ms) "
    "VALUES (:k, :a, :s, :p, :sc, :f, :demo, :now)"
)
_INSERT_ACCOUNT = text(
    "INSERT INTO oe_accounts (account, nonce_floor, created_ms) VALUES (:a, 0, :now) ON CONFLICT (account) DO NOTHING"
)


def insert_agents(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Rows {k, a, s (secret, encrypted), p (passphrase hash), sc (scopes), demo, now}; each
    agent's account row is created with it."""
    for r in rows:
        conn.execute(_INSERT_AGENT, {**r, "f": False})
        conn.execute(_INSERT_ACCOUNT, {"a": r["a"], "now": r["now"]})


def revoke_agent(conn: Connection, key_id: str) -> None:
    conn.execute(text("UPDATE oe_agents SET revoked = :t WHERE api_key_id = :k"), {"t": True, "k": key_id})


def demo_agent_ids(conn: Connection) -> set[str]:
    return {r[0] for r in conn.execute(text("SELECT api_key_id FROM oe_agents WHERE demo = :t"), {"t": True})}


def add_funds(conn: Connection, account: str, funds: dict[str, int]) -> None:
    for asset, amount in funds.items():
        conn.execute(
            text(
                "INSERT INTO oe_balances (account, asset, free, reserved) VALUES (:a, :s, :f, 0) "
                "ON CONFLICT (account, asset) DO UPDATE SET free = oe_balances.free + excluded.free"
            ),
            {"a": account, "s": asset, "f": amount},
        )


# --- WebSocket tokens ------------------------------------------------------------------------------
def insert_ws_token(conn: Connection, tok: WsToken, now: int) -> None:
    conn.execute(
        text("DELETE FROM oe_ws_tokens WHERE expires_ms <= :now"), {"now": now - 60_000}
    )  # expired a minute ago: nobody can use them any more
    conn.execute(
        text(
            "INSERT INTO oe_ws_tokens (token, account, api_key_id, expires_ms, used) VALUES (:t, :a, :k, :e, :u)"
        ),
        {"t": tok.token, "a": tok.account, "k": tok.api_key_id, "e": tok.expires_ms, "u": False},
    )


def take_ws_token(conn: Connection, token: str) -> tuple[WsToken | None, bool, bool]:
    """Mark `token` used (whoever gets here first wins, in any process) and return it with
    whether it was already used and whether its key is revoked (from the database)."""
    row = conn.execute(
        text(
            "SELECT t.account, t.api_key_id, t.expires_ms, t.used, a.revoked FROM oe_ws_tokens t "
            "LEFT JOIN oe_agents a ON a.api_key_id = t.api_key_id WHERE t.token = :t"
        ),
        {"t": token},
    ).first()
    if row is None:
        return None, False, False
    claimed = conn.execute(
        text("UPDATE oe_ws_tokens SET used = :u WHERE token = :t AND used = :f"),
        {"u": True, "t": token, "f": False},
    ).rowcount
    tok = WsToken(token, row[0], row[1], int(row[2]))
    return tok, bool(row[3]) or claimed != 1, row[4] is None or bool(row[4])


# --- reads -----------------------------------------------------------------------------------------
def open_orders(conn: Connection, account: str, is_pg: bool) -> tuple[int, list[dict[str, Any]]]:
    """The committed open orders and the stream seq they include, from one snapshot."""
    if is_pg:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    head_row = conn.execute(
        text("SELECT head FROM stream_heads WHERE family = :f AND stream = :s"), {"f": FAMILY, "s": account}
    ).first()
    rows = conn.execute(
        text(
            "SELECT order_id, client_order_id, market, side, price, qty, leaves_qty, cum_qty, status, tif, "
            f"created_ms FROM oe_orders WHERE account = :a AND status IN {_OPEN} ORDER BY order_no"
        ),
        {"a": account},
    ).all()
    orders = [
        {
            "orderId": r[0],
            "clientOrderId": r[1],
            "market": int(r[2]),
            "side": r[3],
            "price": int(r[4]),
            "qty": int(r[5]),
            "leavesQty": int(r[6]),
            "cumQty": int(r[7]),
            "status": r[8],
            "timeInForce": r[9],
            "createdTsMs": int(r[10]),
        }
        for r in rows
    ]
    return (int(head_row[0]) if head_row else 0), orders
