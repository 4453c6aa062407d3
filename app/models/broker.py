"""Tables of the broker family (schema in its Alembic migration)."""

from __future__ import annotations
