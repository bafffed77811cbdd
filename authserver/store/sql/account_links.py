"""Single-use links sent by email: stored as SHA-256 of the token, consumed atomically.

A new link for a purpose voids the user's older ones for it (only the newest works), and using a link
is one conditional UPDATE, so two clicks (or two tabs) cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from authserver.domain import AccountLink, OutboxMessage, User
from authserver.store.sql.engine import Database
from authserver.store.sql.outbox import insert_messages
from authserver.store.sql.tables import account_links as t
from authserver.store.sql.tables import users


def insert_link(conn: Connection, link: AccountLink) -> None:
    # Older unused links for the same purpose are superseded (expired ones go with the purge: jobs/purge.py).
    conn.execute(
        t.update()
        .where(t.c.user_id == link.user_id, t.c.purpose == link.purpose, t.c.used_at.is_(None))
        .values(used_at=link.created_at)
    )
    conn.execute(t.insert().values(**link.__dict__))


def _link(row: sa.Row[Any] | None) -> AccountLink | None:
    return AccountLink(**row._mapping) if row is not None else None


def _consume(conn: Connection, token_hash: str, purpose: str, now: int) -> AccountLink | None:
    live = sa.and_(t.c.token_hash == token_hash, t.c.purpose == purpose, t.c.used_at.is_(None), t.c.expires_at > now)
    if conn.execute(t.update().where(live).values(used_at=now)).rowcount != 1:
        return None
    return _link(conn.execute(sa.select(t).where(t.c.token_hash == token_hash)).first())


class SqlAccountLinkStore:
    db: Database

    def add_account_link(self, link: AccountLink, messages: Sequence[OutboxMessage] = ()) -> None:
        with self.db.begin() as conn:
            insert_link(conn, link)
            insert_messages(conn, messages)

    def get_account_link(self, token_hash: str) -> AccountLink | None:
        with self.db.connect() as conn:
            return _link(conn.execute(sa.select(t).where(t.c.token_hash == token_hash)).first())

    def use_account_link(self, token_hash: str, purpose: str, now: int) -> AccountLink | None:
        with self.db.begin() as conn:
            return _consume(conn, token_hash, purpose, now)

    def verify_email(self, token_hash: str, now: int) -> User | None:
        """Use a verification link and mark the address it was sent to verified, if it is still the
        user's address; the user, or None (unknown, used, superseded or expired link)."""
        from authserver.store.sql.users import _row_to_user

        with self.db.begin() as conn:
            link = _consume(conn, token_hash, "verify", now)
            if link is None:
                return None
            conn.execute(
                users.update()
                .where(users.c.id == link.user_id, users.c.email == link.email)
                .values(email_verified=True, version=users.c.version + 1)
            )
            row = conn.execute(sa.select(users).where(users.c.id == link.user_id)).first()
            return _row_to_user(row) if row is not None else None

    def reset_password(
        self, token_hash: str, now: int, password_hash: str, messages: Sequence[OutboxMessage] = ()
    ) -> AccountLink | None:
        """Use a reset link and set the new password (voiding every other reset link) with the
        notification, in one transaction; None if the link is not live."""
        with self.db.begin() as conn:
            link = _consume(conn, token_hash, "reset", now)
            if link is None:
                return None
            conn.execute(
                users.update()
                .where(users.c.id == link.user_id)
                .values(password_hash=password_hash, version=users.c.version + 1)
            )
            conn.execute(t.delete().where(t.c.user_id == link.user_id, t.c.purpose == "reset"))
            insert_messages(conn, messages)
            return link

    def change_email(self, token_hash: str, now: int, messages: Sequence[OutboxMessage] = ()) -> User | None:
        """Use an email-change link: the address it was sent to becomes the user's (verified), with the
        notice to the old address, in one transaction. None if the link is not live; DuplicateError (and
        nothing changed) if another account took the address meanwhile."""
        from authserver.store import DuplicateError
        from authserver.store.sql.users import _row_to_user

        try:
            with self.db.begin() as conn:
                link = _consume(conn, token_hash, "email_change", now)
                if link is None:
                    return None
                conn.execute(
                    users.update()
                    .where(users.c.id == link.user_id)
                    .values(email=link.email, email_verified=True, version=users.c.version + 1)
                )
                # Links proving the old address (or an older change) are void now.
                conn.execute(
                    t.update()
                    .where(
                        t.c.user_id == link.user_id, t.c.used_at.is_(None), t.c.purpose.in_(["verify", "email_change"])
                    )
                    .values(used_at=now)
                )
                insert_messages(conn, messages)
                row = conn.execute(sa.select(users).where(users.c.id == link.user_id)).first()
                return _row_to_user(row) if row is not None else None
        except sa.exc.IntegrityError as exc:
            raise DuplicateError("email already taken") from exc
