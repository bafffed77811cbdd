"""Revocations that survive an emptied cache; resource servers that may introspect; a device code's acr_values.

- revocations: revoked access-token ids and grants, and used private_key_jwt assertion ids, until
  they can no longer matter (the database copy of the cache's denylist; see authserver/revocations.py);
- clients.introspect_audiences: the audiences a client serves as a resource server (RFC 7662 §4);
- device_codes.acr_values: the authentication context the device asked for (as /authorize's acr_values).

Revision ID: 0006
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(300), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("kind", "value", name="uq_revocations_kind_value"),
    )
    op.create_index("ix_revocations_expires_at", "revocations", ["expires_at"])
    op.create_index("ix_revocations_created_at", "revocations", ["created_at"])
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("introspect_audiences", sa.JSON, nullable=False, server_default="[]"))
    with op.batch_alter_table("device_codes") as batch:
        batch.add_column(sa.Column("acr_values", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("device_codes") as batch:
        batch.drop_column("acr_values")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("introspect_audiences")
    op.drop_index("ix_revocations_created_at", "revocations")
    op.drop_index("ix_revocations_expires_at", "revocations")
    op.drop_table("revocations")
