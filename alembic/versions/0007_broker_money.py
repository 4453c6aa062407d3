"""broker money as exact decimals: balances, credit, profit, commission, storage, margin

Revision ID: 0007_broker_money
Revises: 0006_fix
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0007_broker_money"
down_revision = "0006_fix"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 2)
COLUMNS = {
    "broker_users": ("balance", "credit"),
    "broker_trades": ("profit", "commission", "storage", "margin"),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for col in columns:
                batch.alter_column(
                    col,
                    type_=MONEY,
                    existing_type=sa.Float,
                    existing_nullable=False,
                    existing_server_default="0",
                    postgresql_using=f"round({col}::numeric, 2)",
                )
        for col in columns:  # SQLite keeps what it copied: stored binary floats become cents
            op.execute(f"UPDATE {table} SET {col} = ROUND({col}, 2)")


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for col in columns:
                batch.alter_column(
                    col,
                    type_=sa.Float,
                    existing_type=MONEY,
                    existing_nullable=False,
                    existing_server_default="0",
                    postgresql_using=f"{col}::double precision",
                )
