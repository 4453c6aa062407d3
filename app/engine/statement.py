"""Write statements for the driver's own cursor, shared by the families' stores.

A hot-path write goes straight to the DB-API cursor of the stream writer's connection (inside
its transaction), not through SQLAlchemy's per-statement execution context. A `Statement` is
written once with `:name` parameters and kept in both drivers' placeholder styles; it is run
with positional values, in the order the names appear.
"""

from __future__ import annotations

import re

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


class Statement:
    __slots__ = ("format", "names", "qmark")

    def __init__(self, sql: str) -> None:
        self.names = tuple(_PARAM.findall(sql))
        self.qmark = _PARAM.sub("?", sql)  # sqlite3
        self.format = _PARAM.sub("%s", sql)  # psycopg

    def sql(self, placeholder: str) -> str:
        """The text for a driver whose placeholder is `placeholder` (`Database.placeholder`)."""
        return self.qmark if placeholder == "?" else self.format


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    """`INSERT INTO table (columns) VALUES (:column, …)`."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
