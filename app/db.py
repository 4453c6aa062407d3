"""Engines and connections: the one place that knows which database is underneath.

Writes go through the streams sequencer's single writer connection (see
`app/engine/streams/sequencer.py`), which is the one place that commits. Reads run on a pool
of reader connections in worker threads so the event loop never blocks on SQL.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def normalise_url(url: str) -> str:
    """Accept the URLs the contract names and pick the drivers we ship (sqlite3, psycopg 3)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def sqlite_path(url: str) -> str | None:
    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    return u.database or ":memory:"


class Database:
    """Holds the writer and reader engines for one database URL."""

    def __init__(self, url: str, *, read_threads: int = 4) -> None:
        self.url = normalise_url(url)
        self.dialect = sa.make_url(self.url).get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        if self.is_sqlite:
            path = sqlite_path(self.url)
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.write_engine = sa.create_engine(self.url, poolclass=sa.pool.SingletonThreadPool)
            self.read_engine = sa.create_engine(self.url, pool_size=read_threads, max_overflow=4)
            _sqlite_pragmas(self.write_engine, immediate=True)
            _sqlite_pragmas(self.read_engine, immediate=False)
        else:
            self.write_engine = sa.create_engine(self.url, pool_size=2, max_overflow=2, pool_pre_ping=True)
            self.read_engine = sa.create_engine(
                self.url, pool_size=read_threads, max_overflow=4, pool_pre_ping=True
            )
        self.placeholder = "?" if self.is_sqlite else "%s"
        self._readers = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="db-read")

    # --- schema ------------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Alembic upgrade: the migrations are the schema.

        A database already at head is left alone without loading Alembic (its scripts and
        environment cost most of a start on an existing database)."""
        if revision == "head" and self.at_head():
            return
        from alembic import command

        command.upgrade(alembic_config(self.url), revision)

    def at_head(self) -> bool:
        """Does `alembic_version` hold exactly the script heads? False when unsure."""
        heads = script_heads()
        if not heads:
            return False
        try:
            with self.write_engine.connect() as conn:
                stored = {str(r[0]) for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
                conn.rollback()
        except sa.exc.DBAPIError:
            return False  # no alembic_version yet: a new database
        return stored == heads

    def downgrade(self, revision: str = "base") -> None:
        from alembic import command

        command.downgrade(alembic_config(self.url), revision)

    # --- reads -------------------------------------------------------------------------------
    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self.read_engine.connect() as conn:
            return fn(conn)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, fn)

    def dispose(self) -> None:
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()


def _sqlite_pragmas(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=10000")
        # WAL is stored in the file: switch only when it is not set yet. The switch needs the file
        # to itself and SQLite does not wait on the busy handler for it, so retry a while.
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            for attempt in range(100):
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    if attempt == 99:
                        raise
                    time.sleep(0.05)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # on the driver's connection: a statement through SQLAlchemy costs more than the BEGIN
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(begin)


def migrations_dir() -> Path:
    """The Alembic scripts: in the checkout, or where `pip install` put them (pyproject data-files)."""
    here = ROOT / "alembic"
    return here if here.is_dir() else Path(sys.prefix) / "share" / "refserver" / "alembic"


_REVISION = re.compile(r"""^revision\s*(?::[^=]*)?=\s*["']([^"']+)["']""", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=(.*)$", re.M)


def script_heads() -> set[str]:
    """The head revisions of `alembic/versions`, read from each script's `revision` and
    `down_revision` lines without importing anything; empty when a script does not parse
    (then `migrate` asks Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (migrations_dir() / "versions").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if rev is None or down is None:
            return set()
        revisions.add(rev.group(1))
        parents.update(re.findall(r"""["']([^"']+)["']""", down.group(1)))
    return revisions - parents


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg
