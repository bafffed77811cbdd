from __future__ import annotations

import sqlalchemy as sa

from authserver.store.sql.engine import Database
from authserver.store.sql.tables import consents as t


class SqlConsentStore:
    db: Database

    def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        with self.db.connect() as conn:
            row = conn.execute(
                sa.select(t.c.scopes).where(t.c.user_id == user_id, t.c.client_id == client_id)
            ).first()
        return frozenset(row[0]) if row else frozenset()

    def add_consent(self, user_id: str, client_id: str, scopes: frozenset[str], now: int) -> None:
        key = sa.and_(t.c.user_id == user_id, t.c.client_id == client_id)
        with self.db.begin() as conn:
            row = conn.execute(sa.select(t.c.scopes).where(key)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(t.insert().values(
                            user_id=user_id, client_id=client_id, scopes=sorted(scopes), created_at=now, updated_at=now
                        ))
                    return
                except sa.exc.IntegrityError:  # a concurrent consent won; merge into it
                    row = conn.execute(sa.select(t.c.scopes).where(key)).first()
            merged = sorted(set(row[0] if row else ()) | scopes)
            conn.execute(t.update().where(key).values(scopes=merged, updated_at=now))
