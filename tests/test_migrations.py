"""Migrations are the schema: head → base → head on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.db import Database


def _tables(db: Database) -> set[str]:
    return set(sa.inspect(db.write_engine).get_table_names()) - {"alembic_version"}


def test_migrations_walk_up_and_down(db_url: str) -> None:
    """Upgrading creates every model table, downgrading to base removes them all, and up again works."""
    db = Database(db_url)
    try:
        db.migrate("head")
        assert _tables(db) == set(SQLModel.metadata.tables)
        db.downgrade("base")
        assert _tables(db) == set()
        db.migrate("head")
        assert _tables(db) == set(SQLModel.metadata.tables)
    finally:
        db.dispose()


def test_every_migration_step_is_reversible(sqlite_url: str) -> None:
    """Each revision can be walked down one step and back up."""
    from alembic.script import ScriptDirectory

    from app.db import alembic_config

    db = Database(sqlite_url)
    try:
        script = ScriptDirectory.from_config(alembic_config(db.url))
        revisions = [r.revision for r in script.walk_revisions()]  # head first
        for rev in revisions:
            db.downgrade(f"{rev}-1" if rev != revisions[-1] else "base")
            db.migrate("head")
        assert _tables(db) == set(SQLModel.metadata.tables)
    finally:
        db.dispose()
