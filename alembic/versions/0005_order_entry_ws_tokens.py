"""order entry: WebSocket tokens kept in the database (valid across restarts until they expire)

Revision ID: 0005_order_entry_ws_tokens
Revises: 0004_order_entry
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_order_entry_ws_tokens"
down_revision = "0004_order_entry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oe_ws_tokens",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(42), nullable=False),
        sa.Column("api_key_id", sa.String(64), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False, index=True),
        sa.Column("used", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("oe_ws_tokens")
