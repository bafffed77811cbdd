from __future__ import annotations

import sqlalchemy as sa

from authserver.domain import AuthCode
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import auth_codes as t

# Used codes are kept past expiry so a late replay is still recognised (and punished).
_KEEP_SECONDS = 3600


class SqlCodeStore:
    db: Database

    def add_code(self, code: AuthCode) -> None:
        values = dict(code.__dict__)
        values["amr"] = list(code.amr)
        values["resources"] = list(code.resources)
        with self.db.begin() as conn:
            conn.execute(t.delete().where(t.c.expires_at < code.created_at - _KEEP_SECONDS))
            conn.execute(t.insert().values(**values))

    def consume_code(self, code_hash: str, now: int) -> tuple[AuthCode | None, bool]:
        with self.db.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.code_hash == code_hash)).first()
            if row is None:
                return None, False
            # The conditional update is the single-use guarantee: of concurrent redemptions,
            # exactly one sees rowcount 1 (PostgreSQL re-checks the WHERE after the row lock).
            result = conn.execute(
                t.update().where(t.c.code_hash == code_hash, t.c.used_at.is_(None)).values(used_at=now)
            )
            m = dict(row._mapping)
            m.pop("used_at")
            m["amr"] = tuple(m["amr"])
            m["resources"] = tuple(m["resources"])
            return AuthCode(**m), result.rowcount == 1
