"""Upstream identity providers ("Continue with ..."), the accounts linked through them, and what an
upstream said about a session's sign-in.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstreams",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(500), nullable=False),
        # AES-GCM under AUTHSERVER_SECRET_KEY, bound to the upstream's name.
        sa.Column("client_secret_enc", sa.Text, nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("authorization_endpoint", sa.String(1000), nullable=False),
        sa.Column("token_endpoint", sa.String(1000), nullable=False),
        sa.Column("userinfo_endpoint", sa.String(1000)),
        sa.Column("jwks_uri", sa.String(1000)),
        sa.Column("id_token_algs", sa.JSON, nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(40), nullable=False),
        sa.Column("iss_parameter_supported", sa.Boolean, nullable=False),
        sa.Column("claim_map", sa.JSON, nullable=False),
        sa.Column("emails_endpoint", sa.String(1000)),
        sa.Column("signup", sa.Boolean, nullable=False),
        sa.Column("link_by_email", sa.Boolean, nullable=False),
        sa.Column("trust_mfa", sa.Boolean, nullable=False),
        sa.Column("mfa_acr_values", sa.JSON, nullable=False),
        sa.Column("preset", sa.String(20)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "upstream_identities",
        sa.Column("upstream", sa.String(40), sa.ForeignKey("upstreams.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger),
        sa.UniqueConstraint("user_id", "upstream", name="uq_upstream_identities_user_upstream"),
    )
    with op.batch_alter_table("browser_sessions") as batch:
        batch.add_column(sa.Column("upstream", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("browser_sessions") as batch:
        batch.drop_column("upstream")
    op.drop_table("upstream_identities")
    op.drop_table("upstreams")
