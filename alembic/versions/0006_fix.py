"""fix drop-copy session state

Revision ID: 0006_fix
Revises: 0004_order_entry
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_fix"
down_revision = "0005_order_entry_ws_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fix_sessions",
        sa.Column("sender_comp_id", sa.String(64), primary_key=True),
        sa.Column("api_key_id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(42), nullable=False),
        sa.Column("next_out_seq", sa.BigInteger, nullable=False),
        sa.Column("next_in_seq", sa.BigInteger, nullable=False),
        sa.Column("last_account_seq", sa.BigInteger, nullable=False),
        sa.Column("last_event_hash", sa.String(32), nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "fix_report_runs",
        sa.Column("sender_comp_id", sa.String(64), primary_key=True),
        sa.Column("api_key_id", sa.String(64), primary_key=True),
        sa.Column("out_seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_seq", sa.BigInteger, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fix_report_runs")
    op.drop_table("fix_sessions")
