"""Indexes for every lookup and for the purge: expiry columns (keyset batches of the purger), the
columns logout and "remove this app" search codes by, and the foreign keys whose ON DELETE CASCADE
would otherwise scan a whole table when a client or a user is deleted.

Revision ID: 0007
Revises: 0010
Create Date: 2026-12-03
"""

from alembic import op

revision = "0007"
down_revision = "0010"
branch_labels = None
depends_on = None

# name, table, columns
INDEXES = [
    # The purger walks each expiry column in index order (store/sql/purge.py).
    ("ix_refresh_tokens_expires", "refresh_tokens", ["expires_at", "token_hash"]),
    ("ix_refresh_tokens_idle_expires", "refresh_tokens", ["idle_expires_at", "token_hash"]),
    ("ix_browser_sessions_expires", "browser_sessions", ["expires_at", "id_hash"]),
    ("ix_browser_sessions_last_seen", "browser_sessions", ["last_seen_at", "id_hash"]),
    ("ix_account_links_expires", "account_links", ["expires_at", "token_hash"]),
    # Logout revokes the grants of codes redeemed in its session; "remove this app" those of a user and client.
    ("ix_auth_codes_sid", "auth_codes", ["sid"]),
    ("ix_auth_codes_user_client", "auth_codes", ["user_id", "client_id"]),
    # Deleting a client or a user cascades through these.
    ("ix_auth_codes_client", "auth_codes", ["client_id"]),
    ("ix_refresh_tokens_client", "refresh_tokens", ["client_id"]),
    ("ix_device_codes_client", "device_codes", ["client_id"]),
    ("ix_device_codes_user", "device_codes", ["user_id"]),
    ("ix_consents_client", "consents", ["client_id"]),
    # `authserver user list` pages in creation order.
    ("ix_users_created", "users", ["created_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table)
