from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from authserver.domain import AccountLink, OutboxMessage, User
from authserver.store import DuplicateError
from authserver.store.sql.account_links import insert_link
from authserver.store.sql.engine import Database
from authserver.store.sql.outbox import insert_messages
from authserver.store.sql.tables import account_links, users


def _row_to_user(row: sa.Row[Any]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        username=m["username"],
        email=m["email"],
        name=m["name"],
        password_hash=m["password_hash"],
        email_verified=m["email_verified"],
        disabled=m["disabled"],
        created_at=m["created_at"],
        version=m["version"],
    )


# Every change of the record bumps its version (the admin API's ETag).
BUMP_VERSION = {"version": users.c.version + 1}


class SqlUserStore:
    db: Database

    def add_user(self, user: User, *, link: AccountLink | None = None, messages: Sequence[OutboxMessage] = ()) -> None:
        # Usernames and emails are stored lower-cased, so uniqueness and login are case-insensitive.
        try:
            with self.db.begin() as conn:
                conn.execute(
                    users.insert().values(
                        id=user.id,
                        username=user.username.lower(),
                        email=user.email.lower(),
                        name=user.name,
                        password_hash=user.password_hash,
                        email_verified=user.email_verified,
                        disabled=user.disabled,
                        created_at=user.created_at,
                    )
                )
                if link is not None:
                    insert_link(conn, link)
                insert_messages(conn, messages)
        except sa.exc.IntegrityError as exc:
            raise DuplicateError("username or email already taken") from exc

    def get_user(self, user_id: str) -> User | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        return _row_to_user(row) if row else None

    def find_user(self, login: str) -> User | None:
        login = login.lower()
        column = users.c.email if "@" in login else users.c.username
        with self.db.connect() as conn:
            row = conn.execute(sa.select(users).where(column == login)).first()
        return _row_to_user(row) if row else None

    def list_users(
        self, *, limit: int | None = None, after: str | None = None, search: str | None = None
    ) -> Sequence[User]:
        # Keyset paging along ix_users_created: a page costs the same at the millionth user as at the first.
        query = sa.select(users).order_by(users.c.created_at, users.c.id).limit(limit)
        if search:
            # A substring of the username, email or name, case-insensitively (LIKE wildcards taken literally).
            pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                sa.or_(
                    users.c.username.like(pattern, escape="\\"),
                    users.c.email.like(pattern, escape="\\"),
                    sa.func.lower(users.c.name).like(pattern, escape="\\"),
                )
            )
        if after is not None:
            anchor = sa.select(users.c.created_at).where(users.c.id == after).scalar_subquery()
            query = query.where(sa.tuple_(users.c.created_at, users.c.id) > sa.tuple_(anchor, after))
        with self.db.connect() as conn:
            return [_row_to_user(r) for r in conn.execute(query)]

    def set_user_disabled(self, user_id: str, disabled: bool) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(users.update().where(users.c.id == user_id).values(disabled=disabled, **BUMP_VERSION))
            return result.rowcount > 0

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                users.update().where(users.c.id == user_id).values(password_hash=password_hash, **BUMP_VERSION)
            )
            # Any password change voids the reset links still out (they were for the old password).
            conn.execute(
                account_links.delete().where(account_links.c.user_id == user_id, account_links.c.purpose == "reset")
            )

    def update_user(self, user: User, *, expected_version: int) -> bool:
        """Store the username, email, name and email_verified of `user` if its version is still
        `expected_version`; False otherwise. DuplicateError if the username or email is taken."""
        query = (
            users.update()
            .where(users.c.id == user.id, users.c.version == expected_version)
            .values(
                username=user.username.lower(),
                email=user.email.lower(),
                name=user.name,
                email_verified=user.email_verified,
                **BUMP_VERSION,
            )
        )
        try:
            with self.db.begin() as conn:
                return conn.execute(query).rowcount > 0
        except sa.exc.IntegrityError as exc:
            raise DuplicateError("username or email already taken") from exc

    def delete_user(self, user_id: str, pseudonym: str, messages: Sequence[OutboxMessage] = ()) -> bool:
        """Delete the user and everything that hangs off the row (sessions, codes, refresh tokens, consents,
        factors, links: ON DELETE CASCADE); the audit trail keeps `pseudonym` instead of the id, without
        the addresses its events named; messages still queued for the user's address are dropped (the
        farewell in `messages` is queued instead). One transaction."""
        from authserver.store.sql.tables import audit_events, outbox

        with self.db.begin() as conn:
            row = conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).first()
            if row is None:
                return False
            conn.execute(users.delete().where(users.c.id == user_id))
            for event_id, data in conn.execute(
                sa.select(audit_events.c.id, audit_events.c.data).where(audit_events.c.user_id == user_id)
            ).all():
                scrubbed = {k: v for k, v in (data or {}).items() if k not in ("email", "old_email", "new_email")}
                conn.execute(
                    audit_events.update().where(audit_events.c.id == event_id).values(user_id=pseudonym, data=scrubbed)
                )
            conn.execute(outbox.delete().where(outbox.c.destination == row[0], outbox.c.status == "pending"))
            insert_messages(conn, messages)
            return True
