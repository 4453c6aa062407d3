"""broker tables

Revision ID: 0003_broker
Revises: 0002_musubi
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0003_broker"
down_revision = "0002_musubi"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broker_users",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False, server_default=""),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("phone", sa.String(64), nullable=False, server_default=""),
        sa.Column("country", sa.String(64), nullable=False, server_default=""),
        sa.Column("city", sa.String(128), nullable=False, server_default=""),
        sa.Column("address", sa.String(255), nullable=False, server_default=""),
        sa.Column("state", sa.String(128), nullable=False, server_default=""),
        sa.Column("zipcode", sa.String(32), nullable=False, server_default=""),
        sa.Column("avatar", sa.String(255), nullable=False, server_default=""),
        sa.Column("group_name", sa.String(64), nullable=False, server_default="demo"),
        sa.Column("currency", sa.String(8), nullable=False, server_default="USD"),
        sa.Column("leverage", sa.Integer, nullable=False, server_default="100"),
        sa.Column("balance", sa.Float, nullable=False, server_default="0"),
        sa.Column("credit", sa.Float, nullable=False, server_default="0"),
        sa.Column("regdate", sa.BigInteger, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("token_gen", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_broker_users_email", "broker_users", ["email"])
    op.create_table(
        "broker_revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("login", sa.BigInteger, nullable=False),
        sa.Column("exp", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "broker_trades",
        sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("login", sa.BigInteger, nullable=False),
        sa.Column("cmd", sa.Integer, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False, server_default=""),
        sa.Column("volume", sa.Integer, nullable=False, server_default="0"),
        sa.Column("open_price", sa.Float, nullable=False, server_default="0"),
        sa.Column("close_price", sa.Float, nullable=False, server_default="0"),
        sa.Column("sl", sa.Float, nullable=False, server_default="0"),
        sa.Column("tp", sa.Float, nullable=False, server_default="0"),
        sa.Column("open_time", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("close_time", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("expiration", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("profit", sa.Float, nullable=False, server_default="0"),
        sa.Column("commission", sa.Float, nullable=False, server_default="0"),
        sa.Column("storage", sa.Float, nullable=False, server_default="0"),
        sa.Column("comment", sa.String(255), nullable=False, server_default=""),
        sa.Column("reason", sa.Integer, nullable=False, server_default="0"),
        sa.Column("margin", sa.Float, nullable=False, server_default="0"),
        sa.Column("digits", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_broker_trades_login_status", "broker_trades", ["login", "status"])
    op.create_table(
        "broker_watch",
        sa.Column("login", sa.BigInteger, primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "broker_scripts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("login", sa.BigInteger, nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("script", sa.Text, nullable=False),
        sa.Column("autostart", sa.Integer, nullable=False, server_default="0"),
        sa.Column("type", sa.String(32), nullable=False, server_default="private"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "broker_settings",
        sa.Column("login", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "broker_alerts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("login", sa.BigInteger, nullable=False, index=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("indicator_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("message", sa.String(1000), nullable=False, server_default=""),
        sa.Column("side", sa.Integer, nullable=False),
        sa.Column("condition", sa.Integer, nullable=False),
        sa.Column("target_price", sa.Float, nullable=True),
        sa.Column("channel_low", sa.Float, nullable=True),
        sa.Column("channel_high", sa.Float, nullable=True),
        sa.Column("move_threshold", sa.Float, nullable=True),
        sa.Column("status", sa.Integer, nullable=False, server_default="0"),
        sa.Column("repeat_mode", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("triggered_at", sa.BigInteger, nullable=True),
        sa.Column("triggered_price", sa.Float, nullable=True),
        sa.Column("reference_price", sa.Float, nullable=True),
        sa.Column("reference_time", sa.BigInteger, nullable=True),
        sa.Column("comment", sa.String(1000), nullable=False, server_default=""),
    )
    op.create_table(
        "broker_alert_logs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("alert_id", sa.BigInteger, nullable=False),
        sa.Column("login", sa.BigInteger, nullable=False, index=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("indicator_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("message", sa.String(1000), nullable=False, server_default=""),
        sa.Column("side", sa.Integer, nullable=False),
        sa.Column("condition", sa.Integer, nullable=False),
        sa.Column("target_price", sa.Float, nullable=True),
        sa.Column("triggered_price", sa.Float, nullable=False),
        sa.Column("triggered_at", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.String(1000), nullable=False, server_default=""),
    )
    op.create_table(
        "broker_notifications",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("login", sa.BigInteger, nullable=False, index=True),
        sa.Column("level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("title", sa.String(255), nullable=False, server_default=""),
        sa.Column("message", sa.String(2000), nullable=False, server_default=""),
        sa.Column("ctm", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("broker_notifications")
    op.drop_table("broker_alert_logs")
    op.drop_table("broker_alerts")
    op.drop_table("broker_settings")
    op.drop_table("broker_scripts")
    op.drop_table("broker_watch")
    op.drop_index("ix_broker_trades_login_status", table_name="broker_trades")
    op.drop_table("broker_trades")
    op.drop_table("broker_revoked_tokens")
    op.drop_index("ix_broker_users_email", table_name="broker_users")
    op.drop_table("broker_users")
