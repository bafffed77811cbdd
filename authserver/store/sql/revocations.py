from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from authserver.domain import Revocation
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import revocations as t

# Only these are copied back into the cache; single-use values are checked against the table itself.
_DENIED_KINDS = ("jti", "grant")


def _values(entry: Revocation) -> dict[str, object]:
    return {
        "kind": entry.kind,
        "value": entry.value,
        "reason": entry.reason[:40],
        "created_at": entry.created_at,
        "expires_at": entry.expires_at,
    }


class SqlRevocationStore:
    db: Database

    def add_revocations(self, entries: Sequence[Revocation], now: int) -> None:
        if not entries:
            return
        with self.db.begin() as conn:
            conn.execute(t.delete().where(t.c.expires_at < now))
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(t).on_conflict_do_nothing(index_elements=["kind", "value"])
            conn.execute(insert, [_values(e) for e in entries])

    def add_single_use(self, entry: Revocation, now: int) -> bool:
        try:
            with self.db.begin() as conn:
                conn.execute(t.delete().where(t.c.expires_at < now))
                conn.execute(t.insert().values(**_values(entry)))
        except sa.exc.IntegrityError:
            return False
        return True

    def list_revocations(self, *, after_id: int, since: int, now: int) -> tuple[list[Revocation], int]:
        query = sa.select(t).where(
            t.c.kind.in_(_DENIED_KINDS),
            t.c.expires_at > now,
            sa.or_(t.c.id > after_id, t.c.created_at >= since),
        )
        with self.db.connect() as conn:
            rows = [r._mapping for r in conn.execute(query)]
        top = max([after_id, *(r["id"] for r in rows)])
        return [
            Revocation(**{k: r[k] for k in ("kind", "value", "reason", "created_at", "expires_at")}) for r in rows
        ], top
