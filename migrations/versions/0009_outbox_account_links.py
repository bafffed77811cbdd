"""The outbox (messages written with their cause, delivered by a background loop) and account links
(email verification, password reset, email change: single use, expiring, stored hashed).

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        # Where it goes (an address, a URL) and a one-line summary, for `authserver mail queue`;
        # the payload itself is sealed (it can carry single-use links) and emptied once delivered.
        sa.Column("destination", sa.String(320), nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        # A sender claims a message for a while; another may take it only after the lease ends.
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "account_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        # The address the link proves (the new one, for an email change).
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger),
    )
    op.create_index("ix_account_links_user", "account_links", ["user_id", "purpose"])


def downgrade() -> None:
    op.drop_index("ix_account_links_user", "account_links")
    op.drop_table("account_links")
    op.drop_index("ix_outbox_due", "outbox")
    op.drop_table("outbox")
