"""Deleting expired rows: keyset batches, each its own short transaction, and one purger at a time.

A batch selects the next `batch_size` expired keys in the order of the expiry column's index,
starting after the last key of the previous batch (a keyset: no rescan of the index entries the
previous batches deleted, which PostgreSQL keeps until vacuum), then deletes exactly those rows. No
transaction holds locks on more than one batch, so sign-ins and token requests never wait for a purge.

On PostgreSQL the purger takes a session-level advisory lock first (pg_try_advisory_lock): with any
number of workers and nodes, one purges and the others skip their turn. SQLite serves one node, whose
workers may overlap harmlessly (each batch deletes what is still there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import sqlalchemy as sa

from authserver.store.sql import tables
from authserver.store.sql.engine import Database

# "authpurg" as a 64-bit integer: the advisory lock key of the purger, the same on every node.
LOCK_KEY = int.from_bytes(b"authpurg", "big")

# kind -> (table, primary key column); the expiry columns are store.PURGEABLE's.
_TABLES: dict[str, tuple[sa.Table, str]] = {
    "auth_codes": (tables.auth_codes, "code_hash"),
    "refresh_tokens": (tables.refresh_tokens, "token_hash"),
    "browser_sessions": (tables.browser_sessions, "id_hash"),
    "device_codes": (tables.device_codes, "device_code_hash"),
    "account_links": (tables.account_links, "token_hash"),
    "registration_tokens": (tables.registration_tokens, "token_hash"),
    "audit_events": (tables.audit_events, "id"),
}


class SqlPurgeStore:
    db: Database

    def purge_expired(self, kind: str, cutoffs: Mapping[str, int], *, batch_size: int, dry_run: bool = False) -> int:
        table, key_name = _TABLES[kind]
        if dry_run:
            expired = sa.or_(*(table.c[name] < cutoff for name, cutoff in cutoffs.items()))
            with self.db.connect() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(expired)).scalar_one())
        # One pass per expiry column, each along that column's index.
        return sum(
            self._purge_by(table, table.c[name], table.c[key_name], cutoff, batch_size)
            for name, cutoff in cutoffs.items()
        )

    def _purge_by(self, table: sa.Table, column: sa.Column, key: sa.Column, cutoff: int, batch_size: int) -> int:  # type: ignore[type-arg]
        deleted = 0
        last: tuple[object, object] | None = None
        while True:
            with self.db.begin() as conn:
                query = sa.select(column, key).where(column < cutoff)
                if last is not None:
                    query = query.where(sa.tuple_(column, key) > sa.tuple_(*last))
                rows = conn.execute(query.order_by(column, key).limit(batch_size)).all()
                if not rows:
                    return deleted
                conn.execute(table.delete().where(key.in_([r[1] for r in rows])))
            deleted += len(rows)
            last = (rows[-1][0], rows[-1][1])
            if len(rows) < batch_size:
                return deleted

    @contextlib.contextmanager
    def purge_lock(self) -> Iterator[bool]:
        if self.db.engine.dialect.name != "postgresql":
            yield True
            return
        with self.db.connect() as conn:
            # A session lock on a connection of its own, released before the connection goes back to
            # the pool (or by PostgreSQL itself if the connection dies).
            held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar_one())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
                    conn.commit()
