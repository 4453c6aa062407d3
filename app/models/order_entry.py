"""Tables of the order entry family (schema in its Alembic migration)."""

from __future__ import annotations
