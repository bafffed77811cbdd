"""An index on the expiry of registration tokens, which the purger now deletes like other expired rows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The purger walks each expiry column in index order (store/sql/purge.py).
    op.create_index("ix_registration_tokens_expires", "registration_tokens", ["expires_at", "token_hash"])


def downgrade() -> None:
    op.drop_index("ix_registration_tokens_expires", "registration_tokens")
