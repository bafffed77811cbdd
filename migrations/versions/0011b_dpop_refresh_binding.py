"""DPoP (RFC 9449 §5): a public client's refresh tokens are bound to the key of the proof they were
issued with (its RFC 7638 thumbprint).

Revision ID: 0011b
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011b"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("dpop_jkt")
