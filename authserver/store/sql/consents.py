from __future__ import annotations

import sqlalchemy as sa

from authserver.store.sql.engine import Database
from authserver.store.sql.tables import consents as t


class SqlConsentStore:
    db: Database

    def get_consent(self, user_id: str, client_id: str) -> frozenset[str]:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(t.c.scopes).where(t.c.user_id == user_id, t.c.client_id == client_id)).first()
        return frozenset(row[0]) if row else frozenset()

    def add_consent(self, user_id: str, client_id: str, scopes: frozenset[str], now: int) -> None:
        key = sa.and_(t.c.user_id == user_id, t.c.client_id == client_id)
        with self.db.begin() as conn:
            row = conn.execute(sa.select(t.c.scopes).where(key)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            t.insert().values(
                                user_id=user_id,
                                client_id=client_id,
                                scopes=sorted(scopes),
                                created_at=now,
                                updated_at=now,
                            )
                        )
                    return
                except sa.exc.IntegrityError:  # a concurrent consent won; merge into it
                    row = conn.execute(sa.select(t.c.scopes).where(key)).first()
            merged = sorted(set(row[0] if row else ()) | scopes)
            conn.execute(t.update().where(key).values(scopes=merged, updated_at=now))

    def list_consents(self, user_id: str) -> list[tuple[str, frozenset[str], int]]:
        query = sa.select(t.c.client_id, t.c.scopes, t.c.updated_at).where(t.c.user_id == user_id)
        with self.db.connect() as conn:
            return [(r[0], frozenset(r[1]), r[2]) for r in conn.execute(query.order_by(t.c.updated_at.desc()))]

    def delete_consent(self, user_id: str, client_id: str) -> bool:
        with self.db.begin() as conn:
            return conn.execute(t.delete().where(t.c.user_id == user_id, t.c.client_id == client_id)).rowcount > 0
