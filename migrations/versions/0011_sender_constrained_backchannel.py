"""Client metadata for PAR, JAR, DPoP and back-channel logout, and which clients took part in a session.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        # RFC 9126 §6, RFC 9101 §10.5, RFC 9449 §5.2, OIDC Back-Channel Logout 1.0 §2.2.
        batch.add_column(sa.Column("require_par", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(
            sa.Column("require_signed_request_object", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("dpop_bound_access_tokens", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("backchannel_logout_uri", sa.Text))
        batch.add_column(
            sa.Column("backchannel_logout_session_required", sa.Boolean, nullable=False, server_default=sa.false())
        )
    # The clients a browser session signed in to: who gets a logout token when the session ends.
    op.create_table(
        "session_clients",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_clients")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("backchannel_logout_session_required")
        batch.drop_column("backchannel_logout_uri")
        batch.drop_column("dpop_bound_access_tokens")
        batch.drop_column("require_signed_request_object")
        batch.drop_column("require_par")
