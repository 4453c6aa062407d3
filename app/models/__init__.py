"""SQLModel tables: one module per family plus the streams tables.

Importing this package registers every table on `SQLModel.metadata`, which Alembic's env reads.
The migrations in `alembic/versions` are the schema; these classes describe it for queries.
"""

from app.models import broker, fix, musubi, order_entry, streams

__all__ = ["broker", "fix", "musubi", "order_entry", "streams"]
