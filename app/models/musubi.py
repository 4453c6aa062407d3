"""Tables of the musubi family (schema in its Alembic migration)."""

from __future__ import annotations
