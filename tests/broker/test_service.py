"""The broker's consistency rule: every change goes through the unit of work; a failed commit
answers 503 in the broker's shape and leaves memory equal to the database."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.broker import store
from app.engine.broker.model import Book
from app.engine.broker.service import BrokerService
from tests.broker.helpers import broker_settings, events, new_user, open_trade, set_price, trades
from tests.conftest import ADMIN_HEADERS, running_app

pytestmark = pytest.mark.anyio


def snapshot(book: Book) -> dict[str, Any]:
    """What the book holds, comparably (no timers, no quotes)."""
    accounts = {
        login: (
            acc.balance,
            acc.credit,
            acc.token_gen,
            acc.password_hash,
            sorted((t.order, t.volume, t.open_price, t.sl, t.tp, t.margin) for t in acc.positions.values()),
            sorted((t.order, t.cmd, t.open_price, t.expiration) for t in acc.pending.values()),
            list(acc.watch),
        )
        for login, acc in book.accounts.items()
    }
    alerts = {a.id: (a.status, a.symbol, a.condition, a.target_price) for a in book.alerts.values()}
    counters = (book.next_login, book.next_order, book.next_alert, book.next_log, book.next_script)
    return {"accounts": accounts, "alerts": alerts, "revoked": set(book.revoked), "counters": counters}


async def test_a_failed_commit_answers_503_and_memory_equals_the_database(db_url: str) -> None:
    """A trade whose transaction fails: the caller gets 503 SERVICE_UNAVAILABLE in the broker
    shape, the broker rebuilds its book from the database (no trade, no margin, no event; prices
    kept), memory then equals what the database holds, and the next request works."""
    async with running_app(broker_settings(db_url)) as r:
        c = r.client
        svc: BrokerService = r.ctx.services["broker"]
        login, token = await new_user(c)
        await set_price(c, "EURUSD", 1.10000, 1.10010)
        first = await open_trade(c, token, cmd=0, volume=100, symbol="EURUSD")
        failures = [1]

        def fail_once(conn: Any) -> None:
            if failures:
                failures.pop()
                raise RuntimeError("disk full")

        r.ctx.streams.sequencer.before_commit = fail_once
        resp = await c.post(
            "/trade/open",
            json={"cmd": 1, "volume": 200, "symbol": "EURUSD"},
            headers={"Authorization": token},
        )
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"] == "SERVICE_UNAVAILABLE" and set(resp.json()) == {"error", "message"}
        await svc.core.uow.settled()
        assert snapshot(svc.core.book) == snapshot(await svc.core.db.read(store.load))
        assert {row[0] for row in (await trades(c, token, tradeType=1))["rows"]} == {first}
        assert [e[0] for e in await events(c, login)] == ["o", "b"]
        prices = (await c.get("/_admin/broker/prices", headers=ADMIN_HEADERS)).json()["prices"]
        assert prices[0]["bid"] == 1.1 and prices[0]["ask"] == 1.1001
        second = await open_trade(c, token, cmd=1, volume=200, symbol="EURUSD")
        assert {row[0] for row in (await trades(c, token, tradeType=1))["rows"]} == {first, second}
        assert [e[0] for e in await events(c, login)] == ["o", "b", "o", "b"]
        assert snapshot(svc.core.book) == snapshot(await svc.core.db.read(store.load))
