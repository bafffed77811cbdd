"""The admin API and dynamic client registration (issue 15).

- `version` on clients and users: bumped by every change, so an update with If-Match is one conditional
  UPDATE (a lost update is refused on SQLite and PostgreSQL alike, without row locks).
- Client metadata a self-registered client supplies (RFC 7591 §2: client_uri, logo_uri, policy_uri,
  tos_uri, contacts), how the client came to be (`registered_by`: cli, admin-api, dynamic), and the hash of
  its RFC 7592 registration access token.
- `registration_tokens`: initial access tokens (RFC 7591 §3), hashed, with a use count and an expiry.
- Indexes for the audit filters by client and by event name.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="1"))
        batch.add_column(sa.Column("client_metadata", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("registered_by", sa.String(20), nullable=False, server_default="cli"))
        batch.add_column(sa.Column("registration_token_hash", sa.String(64)))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="1"))
    op.create_table(
        "registration_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("uses_left", sa.Integer),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_audit_events_client_ts", "audit_events", ["client_id", "ts"])
    op.create_index("ix_audit_events_event_ts", "audit_events", ["event", "ts"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_event_ts", "audit_events")
    op.drop_index("ix_audit_events_client_ts", "audit_events")
    op.drop_table("registration_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("registration_token_hash")
        batch.drop_column("registered_by")
        batch.drop_column("client_metadata")
        batch.drop_column("version")
