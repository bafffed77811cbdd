from __future__ import annotations

import sqlalchemy as sa

from authserver.domain import AuthCode, RefreshToken
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import auth_codes as t
from authserver.store.sql.tables import refresh_tokens


class SqlCodeStore:
    db: Database

    def add_code(self, code: AuthCode) -> None:
        values = dict(code.__dict__)
        values["amr"] = list(code.amr)
        values["resources"] = list(code.resources)
        with self.db.begin() as conn:
            conn.execute(t.insert().values(**values))

    def get_code(self, code_hash: str) -> tuple[AuthCode, bool] | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.code_hash == code_hash)).first()
        if row is None:
            return None
        m = dict(row._mapping)
        used = m.pop("used_at") is not None
        m["amr"] = tuple(m["amr"])
        m["resources"] = tuple(m["resources"])
        return AuthCode(**m), used

    def redeem_code(self, code_hash: str, now: int, refresh: RefreshToken | None) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                t.update().where(t.c.code_hash == code_hash, t.c.used_at.is_(None)).values(used_at=now)
            )
            if result.rowcount != 1:
                return False
            if refresh is not None:
                values = dict(refresh.__dict__)
                values["amr"] = list(refresh.amr)
                values["resources"] = list(refresh.resources)
                conn.execute(refresh_tokens.insert().values(**values))
            return True

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
