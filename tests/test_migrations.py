"""Migrations are the schema: head → base → head on both databases, and the migrated database
has exactly the models' columns, with their types, nullability and primary keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.db import Database

# what the comparison covers: tables and columns (indexes are the migrations' own business:
# they add some the models do not declare)
SCHEMA_DIFFS = {"add_table", "remove_table", "add_column", "remove_column", "modify_type", "modify_nullable"}


def schema_drift(db: Database, metadata: sa.MetaData) -> list[str]:
    """Every difference between `metadata` (the models) and the migrated database, per column:
    missing or extra tables and columns, a type that differs (Alembic's dialect-aware type
    comparison: INTEGER vs BIGINT, VARCHAR(16) vs VARCHAR(20), JSON vs TEXT…), nullability
    and primary keys. Generic: it walks whatever tables the models declare."""
    found: list[str] = []
    with db.write_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        for diff in compare_metadata(ctx, metadata):
            for item in diff if isinstance(diff, list) else [diff]:
                if item[0] in SCHEMA_DIFFS:
                    found.append(_describe(item))
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            reflected = {c["name"]: c for c in inspector.get_columns(table.name)}
            model = {c.name: c for c in table.columns}
            pk = set(inspector.get_pk_constraint(table.name)["constrained_columns"])
            if pk != {c.name for c in table.primary_key.columns}:
                found.append(f"{table.name}: primary key {sorted(pk)} in the database")
            for name in set(reflected) & set(model):
                if _kind(reflected[name]["type"]) != _kind(model[name].type):
                    found.append(
                        f"{table.name}.{name}: {reflected[name]['type']} vs model {model[name].type}"
                    )
    return found


def _kind(t: Any) -> str:
    """The Python value a column type carries (int, str, bool, float, dict…), for a coarse
    check that holds even where a dialect's reflection is loose."""
    if isinstance(t, sa.types.TypeDecorator):  # SQLModel's AutoString and the like
        t = t.impl_instance
    try:
        return str(t.python_type.__name__)
    except NotImplementedError:
        return type(t).__name__.lower()


def _describe(item: tuple[Any, ...]) -> str:
    kind = item[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {item[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {item[2]}.{item[3].name}"
    return f"{kind} {item[2]}.{item[3]}: {item[-2]} -> {item[-1]}"


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


def test_migrated_columns_and_types_match_the_models(db_url: str) -> None:
    """A model column missing from the migrations (or left behind by one), or one whose type,
    nullability or key differs from what the migrations create, fails here on its database
    (INTEGER where the model says BIGINT only bites on PostgreSQL)."""
    db = Database(db_url)
    try:
        db.migrate("head")
        assert schema_drift(db, SQLModel.metadata) == []
    finally:
        db.dispose()


def test_schema_drift_is_detected(sqlite_url: str) -> None:
    """The comparison is not vacuous: a model with an extra column, a changed type, a changed
    nullability and a table the migrations never made is reported item by item."""
    db = Database(sqlite_url)
    try:
        db.migrate("head")
        md = sa.MetaData()
        for table in SQLModel.metadata.sorted_tables:
            table.to_metadata(md)
        first = md.sorted_tables[0]
        first.append_column(sa.Column("not_migrated", sa.Integer, nullable=True))
        col = next(c for c in first.columns if not c.primary_key and c.name != "not_migrated")
        col.type = sa.Boolean() if _kind(col.type) != "bool" else sa.Integer()
        col.nullable = not col.nullable
        sa.Table("never_migrated", md, sa.Column("id", sa.Integer, primary_key=True))
        drift = schema_drift(db, md)
        assert f"add_column {first.name}.not_migrated" in drift
        assert "add_table never_migrated" in drift
        assert any(d.startswith(f"modify_type {first.name}.{col.name}") for d in drift), drift
        assert any(d.startswith(f"modify_nullable {first.name}.{col.name}") for d in drift), drift
        assert any(d.startswith(f"{first.name}.{col.name}:") for d in drift), drift
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


def test_database_at_head_starts_without_loading_alembic(sqlite_url: str, tmp_path: Path) -> None:
    """Start-up on an existing database at head skips Alembic entirely (its scripts and
    environment cost ~1 s of every start); a new database and one a step behind still migrate."""
    code = (
        "import sys; from app.db import Database; db = Database(sys.argv[1]); db.migrate(); "
        "print('alembic' in sys.modules, db.at_head()); db.dispose()"
    )
    root = Path(__file__).resolve().parent.parent

    def run(url: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, url], capture_output=True, text=True, cwd=root, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run(sqlite_url) == "False True"  # at head: nothing loaded
    assert run(f"sqlite:///{tmp_path}/new.db") == "True True"  # new: migrated
    db = Database(sqlite_url)
    try:
        db.downgrade("-1")
        assert not db.at_head()
    finally:
        db.dispose()
    assert run(sqlite_url) == "True True"  # a step behind: upgraded


def test_script_heads_match_alembic() -> None:
    """The cheap reading of the scripts' heads agrees with Alembic's own."""
    from alembic.script import ScriptDirectory

    from app.db import alembic_config, script_heads

    assert script_heads() == set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
