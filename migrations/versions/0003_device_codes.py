"""Device authorization grant (RFC 8628): device codes and their user codes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_codes",
        sa.Column("device_code_hash", sa.String(64), primary_key=True),
        sa.Column("user_code", sa.String(16), nullable=False, unique=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("auth_time", sa.BigInteger),
        sa.Column("amr", sa.JSON),
        sa.Column("acr", sa.String(100)),
        sa.Column("sid", sa.String(64)),
        sa.Column("interval", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("consumed_at", sa.BigInteger),
    )
    op.create_index("ix_device_codes_expires", "device_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_table("device_codes")
