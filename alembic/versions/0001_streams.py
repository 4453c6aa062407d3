"""streams, clock and secrets

Revision ID: 0001_streams
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_streams"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_heads",
        sa.Column("family", sa.String(32), primary_key=True),
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("head", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "stream_events",
        sa.Column("family", sa.String(32), primary_key=True),
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(200), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "clock_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("frozen", sa.Boolean, nullable=False),
        sa.Column("now_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(512), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("secrets")
    op.drop_table("clock_state")
    op.drop_table("stream_events")
    op.drop_table("stream_heads")
