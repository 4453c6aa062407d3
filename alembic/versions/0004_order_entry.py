"""order entry tables

Revision ID: 0004_order_entry
Revises: 0003_broker
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_order_entry"
down_revision = "0003_broker"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
