"""The Musubi migration: down to the streams revision drops every Musubi table, up restores them."""

from __future__ import annotations

import sqlalchemy as sa

from app.db import Database

TABLES = {"musubi_participants", "musubi_orders", "musubi_quotes", "musubi_transitions", "musubi_idempotency"}


def test_musubi_migration_down_and_up(db_url: str) -> None:
    """downgrade 0001_streams removes exactly the Musubi tables; upgrade head brings them back."""
    db = Database(db_url)
    try:
        names = set(sa.inspect(db.read_engine).get_table_names())
        assert names >= TABLES
        db.downgrade("0001_streams")
        db.read_engine.dispose()
        after = set(sa.inspect(db.read_engine).get_table_names())
        assert not (after & TABLES) and "stream_events" in after
        db.migrate()
        db.read_engine.dispose()
        assert set(sa.inspect(db.read_engine).get_table_names()) >= TABLES
    finally:
        db.dispose()
