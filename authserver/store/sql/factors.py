"""What removing a second factor must decide in one transaction: does the account keep another one?

Two removals racing (the last passkey on one tab, TOTP on another) must not both see "the other factor
is still there". Each first writes the user's row, which serialises them: PostgreSQL holds the row lock
until commit, and SQLite allows one writer at a time. Under PostgreSQL's READ COMMITTED the second one's
later statements then see what the first committed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from authserver.store.sql.tables import passkeys, totp_factors, upstream_identities, users


def lock_factors(conn: Connection, user_id: str) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(id=users.c.id))


def count_factors(conn: Connection, user_id: str) -> int:
    keys = conn.execute(sa.select(sa.func.count()).where(passkeys.c.user_id == user_id)).scalar_one()
    totp = conn.execute(
        sa.select(sa.func.count()).where(totp_factors.c.user_id == user_id, totp_factors.c.confirmed_at.is_not(None))
    ).scalar_one()
    return int(keys) + int(totp)


def ways_in(conn: Connection, user_id: str) -> int:
    """How many ways the account has to sign in: its password, its passkeys, its upstream identities."""
    password = conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar_one_or_none()
    keys = conn.execute(sa.select(sa.func.count()).where(passkeys.c.user_id == user_id)).scalar_one()
    linked = conn.execute(sa.select(sa.func.count()).where(upstream_identities.c.user_id == user_id)).scalar_one()
    return (1 if password else 0) + int(keys) + int(linked)
