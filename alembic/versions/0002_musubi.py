"""musubi tables

Revision ID: 0002_musubi
Revises: 0001_streams
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002_musubi"
down_revision = "0001_streams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "musubi_participants",
        sa.Column("party_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False, unique=True),
        sa.Column("client_secret", sa.String(128), nullable=False),
        sa.Column("simulated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "musubi_orders",
        sa.Column("intent_id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sender_party_id", sa.String(200), nullable=False, index=True),
        sa.Column("sender_custodian_party_id", sa.String(200), nullable=False),
        sa.Column("receiver_party_id", sa.String(200), nullable=False),
        sa.Column("receiver_custodian_party_id", sa.String(200), nullable=False),
        sa.Column("intent_signature", sa.Text, nullable=False),
        sa.Column("source_contract_id", sa.String(512), nullable=False),
        sa.Column("source_currency", sa.String(16), nullable=False),
        sa.Column("target_amount", sa.String(64), nullable=False),
        sa.Column("target_currency", sa.String(16), nullable=False),
        sa.Column("source_amount_max", sa.String(64), nullable=False),
        sa.Column("kyc_aml_ref", sa.String(36), nullable=False),
        sa.Column("jurisdiction_sender", sa.String(2), nullable=False),
        sa.Column("jurisdiction_receiver", sa.String(2), nullable=False),
        sa.Column("memo", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("custodian_accepted_at", sa.BigInteger, nullable=True),
        sa.Column("fx_rate", sa.String(64), nullable=True),
        sa.Column("source_amount_actual", sa.String(64), nullable=True),
        sa.Column("market_maker_party_id", sa.String(200), nullable=True),
        sa.Column("selected_quote_id", sa.String(36), nullable=True),
        sa.Column("quote_accepted_at", sa.BigInteger, nullable=True),
        sa.Column("executing_at", sa.BigInteger, nullable=True),
        sa.Column("transaction_hash", sa.String(66), nullable=True),
        sa.Column("settled_at", sa.BigInteger, nullable=True),
        sa.Column("failure_reason", sa.String(16), nullable=True),
    )
    op.create_table(
        "musubi_quotes",
        sa.Column("quote_id", sa.String(36), primary_key=True),
        sa.Column("intent_id", sa.String(36), nullable=False, index=True),
        sa.Column("market_maker_party_id", sa.String(200), nullable=False),
        sa.Column("fx_rate", sa.String(64), nullable=False),
        sa.Column("target_amount", sa.String(64), nullable=False),
        sa.Column("source_amount", sa.String(64), nullable=False),
        sa.Column("valid_until", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "musubi_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("intent_id", sa.String(36), nullable=False, index=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_table(
        "musubi_idempotency",
        sa.Column("party_id", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("intent_id", sa.String(36), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("musubi_idempotency")
    op.drop_table("musubi_transitions")
    op.drop_table("musubi_quotes")
    op.drop_table("musubi_orders")
    op.drop_table("musubi_participants")
