"""Sudo mode: when (and with which factors) a browser session last re-authenticated.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("browser_sessions") as batch:
        batch.add_column(sa.Column("reauth_at", sa.BigInteger))
        batch.add_column(sa.Column("reauth_amr", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("browser_sessions") as batch:
        batch.drop_column("reauth_amr")
        batch.drop_column("reauth_at")
