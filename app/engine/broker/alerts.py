"""Price alerts: create, update, delete, expiry, evaluation on each price change, and the log."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.engine.broker import conditions, validate
from app.engine.broker.core import Core
from app.engine.broker.model import ALERT_ACTIVE, ALERT_EXPIRED, ALERT_TRIGGERED, Account, Alert, Quote
from app.engine.broker.store import (
    DEL_ALERT,
    DEL_LOG,
    DEL_LOGS,
    INS_ALERT,
    INS_LOG,
    SEL_LOGS,
    UPD_ALERT,
    Work,
)
from app.engine.broker.symbols import BY_NAME, Symbol
from app.engine.errors import NotFound
from app.engine.streams import Emit


class Alerts:
    def __init__(self, core: Core) -> None:
        self.core = core

    def _side_price(self, a: Alert) -> float:
        q = self.core.book.quotes[a.symbol]
        return q.bid if a.side == 0 else q.ask

    @staticmethod
    def _round(a: Alert) -> None:
        d = BY_NAME[a.symbol].digits
        for name in ("target_price", "channel_low", "channel_high"):
            v = getattr(a, name)
            if v is not None:
                setattr(a, name, round(v, d))

    def _own(self, acc: Account, alert_id: int) -> Alert:
        a = self.core.book.alerts.get(alert_id)
        if a is None or a.login != acc.login:
            raise NotFound(f"no price alert {alert_id} on login {acc.login}", code="NOT_FOUND")
        return a

    async def create(self, acc: Account, values: dict[str, Any]) -> int:
        book = self.core.book
        now = self.core.now_s()
        a = Alert(id=0, login=acc.login, created_at=now, updated_at=now, **values)
        validate.alert(a, self.core.clock.now_ms())
        self._round(a)
        a.id = book.next_alert
        book.next_alert += 1
        a.reference_price, a.reference_time = self._side_price(a), now
        book.alerts[a.id] = a
        book.alerts_by_symbol[a.symbol][a.id] = a
        self.arm_expiry(a)
        work = Work()
        work.row(INS_ALERT, a)
        await self.core.commit(work)
        return a.id

    async def update(self, acc: Account, alert_id: int, values: dict[str, Any]) -> None:
        a = self._own(acc, alert_id)
        trial = dataclasses.replace(a, timer=None, **values)
        validate.alert(trial, self.core.clock.now_ms())
        self._round(trial)
        by_symbol = self.core.book.alerts_by_symbol
        by_symbol[a.symbol].pop(a.id, None)
        if a.timer is not None:
            a.timer.cancel()
            a.timer = None
        for k in values:
            setattr(a, k, getattr(trial, k))
        now = self.core.now_s()
        # an update re-activates the alert and restarts its reference price
        a.status, a.armed, a.updated_at = ALERT_ACTIVE, True, now
        a.reference_price, a.reference_time = self._side_price(a), now
        by_symbol[a.symbol][a.id] = a
        self.arm_expiry(a)
        work = Work()
        work.row(UPD_ALERT, a)
        await self.core.commit(work)

    async def delete(self, acc: Account, alert_id: int) -> None:
        a = self._own(acc, alert_id)
        del self.core.book.alerts[a.id]
        self.core.book.alerts_by_symbol[a.symbol].pop(a.id, None)
        if a.timer is not None:
            a.timer.cancel()
        work = Work()
        work.sql(DEL_ALERT, {"id": a.id})
        await self.core.commit(work)

    def of(self, acc: Account) -> list[list[Any]]:
        alerts = self.core.book.alerts.values()
        return [a.row() for a in sorted(alerts, key=lambda x: x.id) if a.login == acc.login]

    def arm_expiry(self, a: Alert) -> None:
        if a.expires_at and self.core.running and a.timer is None and a.status == ALERT_ACTIVE:
            aid = a.id
            a.timer = self.core.clock.call_at(
                a.expires_at * 1000, lambda: self._expire(aid), name="broker-alert"
            )

    async def _expire(self, alert_id: int) -> None:
        await self.core.before_timer()
        a = self.core.book.alerts.get(alert_id)
        if a is None or a.status != ALERT_ACTIVE:
            return
        a.timer = None
        a.status, a.updated_at = ALERT_EXPIRED, self.core.now_s()
        self.core.book.alerts_by_symbol[a.symbol].pop(a.id, None)
        work = Work()
        work.row(UPD_ALERT, a)
        await self.core.commit(work)

    def check(self, sym: Symbol, prev: Quote, q: Quote, work: Work) -> None:
        """Fire the symbol's active alerts whose condition the change `prev` → `q` meets."""
        for a in sorted(self.core.book.alerts_by_symbol[sym.symbol].values(), key=lambda x: x.id):
            if a.status != ALERT_ACTIVE:
                continue
            p, pv = (q.bid, prev.bid) if a.side == 0 else (q.ask, prev.ask)
            ok = conditions.holds(
                a.condition,
                pv,
                p,
                target=a.target_price,
                low=a.channel_low,
                high=a.channel_high,
                threshold=a.move_threshold,
                reference=a.reference_price,
                digits=sym.digits,
            )
            if a.condition in conditions.LEVEL_CONDITIONS and a.repeat_mode == 1:
                if not ok:
                    a.armed = True
                    continue
                if not a.armed:
                    continue
                a.armed = False
            elif not ok:
                continue
            self._fire(a, p, q.ctm, work)

    def _fire(self, a: Alert, price: float, now: int, work: Work) -> None:
        book = self.core.book
        log_id = book.next_log
        book.next_log += 1
        a.triggered_at, a.triggered_price, a.updated_at = now, price, now
        if a.condition in conditions.MOVE_CONDITIONS:
            a.reference_price, a.reference_time = price, now
        if a.repeat_mode == 0:
            a.status = ALERT_TRIGGERED
            book.alerts_by_symbol[a.symbol].pop(a.id, None)
            if a.timer is not None:
                a.timer.cancel()
                a.timer = None
        work.row(UPD_ALERT, a)
        work.sql(
            INS_LOG,
            {
                "id": log_id,
                "alert_id": a.id,
                "login": a.login,
                "symbol": a.symbol,
                "indicator_name": a.indicator_name,
                "message": a.message,
                "side": a.side,
                "condition": a.condition,
                "target_price": a.target_price,
                "triggered_price": price,
                "triggered_at": now,
                "comment": a.comment,
            },
        )
        frame = [
            "a",
            log_id,
            a.id,
            a.login,
            a.symbol,
            a.side,
            a.condition,
            a.target_price,
            price,
            now,
            a.message,
        ]
        work.emit(a.login, frame)

    async def logs(self, acc: Account) -> list[list[Any]]:
        rows = await self.core.db.read(lambda c: c.execute(SEL_LOGS, {"login": acc.login}).all())
        return [list(r) for r in rows]

    async def delete_logs(self, acc: Account, log_id: int | None) -> None:
        login = acc.login

        def write(conn: Any, emit: Emit) -> None:
            if log_id is None:
                conn.execute(DEL_LOGS, {"login": login})
            elif conn.execute(DEL_LOG, {"login": login, "id": log_id}).rowcount == 0:
                raise NotFound(f"no alert log {log_id} on login {login}", code="NOT_FOUND")

        await self.core.uow.commit(write)
