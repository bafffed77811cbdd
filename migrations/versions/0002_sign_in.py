"""Sign-in: authorization codes, refresh-token families, consents, browser sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("sid", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("auth_time", sa.BigInteger, nullable=False),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("acr", sa.String(100), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_browser_sessions_user", "browser_sessions", ["user_id"])
    op.create_table(
        "auth_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("nonce", sa.Text),
        sa.Column("code_challenge", sa.String(128)),
        sa.Column("code_challenge_method", sa.String(10)),
        sa.Column("auth_time", sa.BigInteger, nullable=False),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("acr", sa.String(100), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("claims", sa.JSON),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger),
    )
    op.create_index("ix_auth_codes_expires", "auth_codes", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("offline", sa.Boolean, nullable=False),
        sa.Column("auth_time", sa.BigInteger, nullable=False),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("acr", sa.String(100), nullable=False),
        sa.Column("claims", sa.JSON),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("idle_expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
    )
    op.create_index("ix_refresh_tokens_grant", "refresh_tokens", ["grant_id"])
    op.create_index("ix_refresh_tokens_sid", "refresh_tokens", ["sid"])
    op.create_index("ix_refresh_tokens_user_client", "refresh_tokens", ["user_id", "client_id"])
    op.create_table(
        "consents",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_table("refresh_tokens")
    op.drop_table("auth_codes")
    op.drop_table("browser_sessions")
