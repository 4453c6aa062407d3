"""Broker money is exact decimal arithmetic in the account currency's digits (CONTRACT §6)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.db import Database
from app.engine.broker import store
from app.engine.broker.service import BrokerService
from tests.broker.helpers import balance, broker_settings, new_user, open_trade, set_price, trades
from tests.conftest import ADMIN_HEADERS, running_app

pytestmark = pytest.mark.anyio


async def test_deposit_1e300_then_minus_1e300_is_refused_and_the_balance_stays(db_url: str) -> None:
    """The float failure: 10,000 + 1e300 − 1e300 used to leave 0.0. Amounts beyond ±10^12 are
    400 INVALID_DATA naming `amount`, and the balance stays exactly 10,000."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        login, token = await new_user(c)
        for amount in (1e300, -1e300, 10**12 + 1, -(10**12) - 0.01):
            resp = await c.post(
                f"/_admin/broker/users/{login}/deposit", json={"amount": amount}, headers=ADMIN_HEADERS
            )
            assert resp.status_code == 400, resp.text
            assert "INVALID_DATA" in resp.text and "amount" in resp.text
        resp = await c.post(
            "/_admin/broker/users", json={"password": "secret-pw", "balance": 1e13}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 400 and "balance" in resp.text
        assert (await balance(c, token))["balance"] == 10_000
        resp = await c.post(
            f"/_admin/broker/users/{login}/deposit", json={"amount": 10**12}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 400 and "balance" in resp.text  # 10^12 + 10,000


async def test_cents_add_up_exactly_and_are_stored_as_decimals(db_url: str) -> None:
    """Ten deposits of 0.1 make exactly 1.00 more (not 0.9999999999999999), the finance rows sum
    exactly, and what the database holds reads back as the same Decimal the memory holds."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        svc: BrokerService = r.ctx.services["broker"]
        login, token = await new_user(c, balance=0.3)
        for _ in range(10):
            resp = await c.post(
                f"/_admin/broker/users/{login}/deposit", json={"amount": 0.1}, headers=ADMIN_HEADERS
            )
            assert resp.status_code == 200, resp.text
        assert resp.json()["balance"] == 1.3
        assert (await balance(c, token))["balance"] == 1.3
        assert (await trades(c, token, tradeType=4))["total_profit"] == 1.3
        acc = svc.accounts.get(login)
        assert acc is not None and acc.balance == Decimal("1.30")
        stored = (await svc.core.db.read(store.load)).accounts[login]
        assert stored.balance == Decimal("1.30")


async def test_trades_read_back_from_the_database_as_memory_holds_them(db_url: str) -> None:
    """Opens, a partial close and full closes write rows (on the driver's cursor) that load back
    as the very accounts and open positions memory holds: every amount the same Decimal."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        svc: BrokerService = r.ctx.services["broker"]
        login, token = await new_user(c, balance=10_000.07)
        h = {"Authorization": token}
        await set_price(c, "EURUSD", 1.08501, 1.08513)
        first = await open_trade(c, token, cmd=0, volume=30, symbol="EURUSD", sl=1.05, tp=1.2)
        second = await open_trade(c, token, cmd=1, volume=10, symbol="XAUUSD")
        await set_price(c, "EURUSD", 1.08777, 1.08789)
        for body in ({"order": first, "volume": 10}, {"order": second}):
            resp = await c.request("DELETE", "/trade/close", json=body, headers=h)
            assert resp.status_code == 200, resp.text
        acc = svc.accounts.get(login)
        assert acc is not None and list(acc.positions) == [first]
        stored = (await svc.core.db.read(store.load)).accounts[login]
        assert (stored.balance, stored.credit) == (acc.balance, acc.credit)
        assert stored.balance != Decimal("10000.07")  # the closes booked their profit
        mem, disk = acc.positions[first], stored.positions[first]
        assert disk == mem and disk.volume == 20
        for amount in (disk.margin, disk.profit, disk.commission, disk.storage):
            assert isinstance(amount, Decimal)
        assert len((await trades(c, token, tradeType=2))["rows"]) == 2  # the partial and the full close


async def test_a_jpy_account_counts_in_whole_yen(sqlite_url: str) -> None:
    """JPY has no minor unit: a deposit of 0.4 JPY rounds to nothing and is refused; 1.5 books 2."""
    async with running_app(broker_settings(sqlite_url)) as r:
        c = r.client
        login, _ = await new_user(c, currency="JPY", balance=1_000_000)
        resp = await c.post(
            f"/_admin/broker/users/{login}/deposit", json={"amount": 0.4}, headers=ADMIN_HEADERS
        )
        assert resp.status_code == 400 and "amount" in resp.text
        resp = await c.post(
            f"/_admin/broker/users/{login}/deposit", json={"amount": 1.5}, headers=ADMIN_HEADERS
        )
        assert resp.json()["balance"] == 1_000_002


def test_float_money_columns_migrate_to_exact_decimals(db_url: str) -> None:
    """Stored binary floats (0.1 + 0.2 = 0.30000000000000004) become NUMERIC(20, 2) values that
    read back exactly (0.30), and the migration walks down and up again."""
    db = Database(db_url)
    try:
        db.migrate("head")
        db.downgrade("0004_order_entry")  # the schema before money was exact
        with db.write_engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO broker_users (login, password_hash, regdate, balance, credit) "
                    "VALUES (7, 'x', 0, :b, :c)"
                ),
                {"b": 0.1 + 0.2, "c": 12345678901.23},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO broker_trades (order_id, login, cmd, state, status, profit, margin) "
                    "VALUES (100001, 7, 6, 7, 'finance', :p, :m)"
                ),
                {"p": 0.1 + 0.2, "m": 0.1 * 3 + 770},
            )
        db.migrate("head")
        book = db.read_sync(store.load)
        assert book.accounts[7].balance == Decimal("0.30")
        assert book.accounts[7].credit == Decimal("12345678901.23")
        row = db.read_sync(
            lambda conn: (
                conn.execute(sa.text(f"SELECT {store.TRADE_COLS} FROM broker_trades")).mappings().first()
            )
        )
        assert row is not None
        t = store.trade_from_row(row)
        assert t.profit == Decimal("0.30") and t.margin == Decimal("770.30")
        types = {c["name"]: c["type"] for c in sa.inspect(db.write_engine).get_columns("broker_users")}
        assert isinstance(types["balance"], sa.Numeric) and not isinstance(types["balance"], sa.Float)
        db.downgrade("0004_order_entry")
        db.migrate("head")
        assert db.read_sync(store.load).accounts[7].balance == Decimal("0.30")
    finally:
        db.dispose()
