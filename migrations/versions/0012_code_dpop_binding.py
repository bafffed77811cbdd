"""DPoP (RFC 9449 §10): an authorization code may be bound to the thumbprint of a DPoP key, given as
dpop_jkt at /authorize or /par, or by a DPoP proof sent to /par.

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_codes") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("auth_codes") as batch:
        batch.drop_column("dpop_jkt")
