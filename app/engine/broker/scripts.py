"""User scripts (stored only: the reference server does not run them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from app.engine.broker.core import Core
from app.engine.broker.model import Account
from app.engine.broker.store import DEL_SCRIPT, INS_SCRIPT, SEL_SCRIPTS, update_script
from app.engine.errors import NotFound
from app.engine.streams import Emit


class Scripts:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def add(self, acc: Account, name: str, script: str, autostart: int) -> int:
        book = self.core.book
        sid = book.next_script
        book.next_script += 1
        params = {
            "id": sid,
            "login": acc.login,
            "name": name,
            "script": script,
            "autostart": autostart,
            "now": self.core.now_s(),
        }
        await self.core.uow.commit(lambda conn, emit: conn.execute(INS_SCRIPT, params))
        return sid

    async def update(self, acc: Account, sid: int, changes: dict[str, Any]) -> None:
        stmt = update_script(changes)
        params = dict(changes, id=sid, login=acc.login, now=self.core.now_s())

        def write(conn: Connection, emit: Emit) -> None:
            if conn.execute(stmt, params).rowcount == 0:
                raise NotFound(f"no script {sid} on login {acc.login}", code="NOT_FOUND")

        await self.core.uow.commit(write)

    async def delete(self, acc: Account, sid: int) -> None:
        def write(conn: Connection, emit: Emit) -> None:
            if conn.execute(DEL_SCRIPT, {"id": sid, "login": acc.login}).rowcount == 0:
                raise NotFound(f"no script {sid} on login {acc.login}", code="NOT_FOUND")

        await self.core.uow.commit(write)

    async def list(self, acc: Account) -> list[list[Any]]:
        rows = await self.core.db.read(lambda c: c.execute(SEL_SCRIPTS, {"login": acc.login}).all())
        return [[int(r[0]), r[1], r[2], int(r[3]), r[4], int(r[5]), int(r[6])] for r in rows]
