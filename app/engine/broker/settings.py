"""Per-login settings: a key → JSON value map, merged by POST (a null value deletes its key)."""

from __future__ import annotations

from typing import Any

import orjson

from app.engine.broker.core import Core
from app.engine.broker.model import Account
from app.engine.broker.store import DEL_SETTING, INS_SETTING, SEL_SETTINGS, Work


class Settings:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def get(self, acc: Account) -> list[list[Any]]:
        rows = await self.core.db.read(lambda c: c.execute(SEL_SETTINGS, {"login": acc.login}).all())
        return [[r[0], orjson.loads(r[1])] for r in rows]

    async def merge(self, acc: Account, values: dict[str, Any]) -> None:
        work = Work()
        for k, v in values.items():
            work.sql(DEL_SETTING, {"login": acc.login, "key": k})
            if v is not None:
                work.sql(INS_SETTING, {"login": acc.login, "key": k, "value": orjson.dumps(v).decode()})
        await self.core.commit(work)
