"""order entry tables

Revision ID: 0004_order_entry
Revises: 0003_broker
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_order_entry"
down_revision = "0003_broker"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oe_accounts",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("nonce_floor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "oe_agents",
        sa.Column("api_key_id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(42), nullable=False, index=True),
        sa.Column("secret_enc", sa.String(512), nullable=False),
        sa.Column("passphrase_hash", sa.String(128), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("demo", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "oe_balances",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("asset", sa.String(16), primary_key=True),
        sa.Column("free", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "oe_orders",
        sa.Column("order_id", sa.String(32), primary_key=True),
        sa.Column("order_no", sa.BigInteger, nullable=False),
        sa.Column("account", sa.String(42), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=True),
        sa.Column("market", sa.Integer, nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("qty", sa.BigInteger, nullable=False),
        sa.Column("leaves_qty", sa.BigInteger, nullable=False),
        sa.Column("cum_qty", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tif", sa.String(10), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("priority", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_oe_orders_account_status", "oe_orders", ["account", "status"])
    op.create_index("ix_oe_orders_status", "oe_orders", ["status"])
    op.create_table(
        "oe_idempotency",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("idem_key", sa.String(200), primary_key=True),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "oe_counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("oe_counters")
    op.drop_table("oe_idempotency")
    op.drop_index("ix_oe_orders_status", table_name="oe_orders")
    op.drop_index("ix_oe_orders_account_status", table_name="oe_orders")
    op.drop_table("oe_orders")
    op.drop_table("oe_balances")
    op.drop_table("oe_agents")
    op.drop_table("oe_accounts")
