from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from authserver.domain import BrowserSession
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import browser_sessions as t


def _row(row: sa.Row[Any] | None) -> BrowserSession | None:
    if row is None:
        return None
    m = dict(row._mapping)
    m["amr"] = tuple(m["amr"])
    m["reauth_amr"] = tuple(m["reauth_amr"]) if m["reauth_amr"] is not None else None
    return BrowserSession(**m)


class SqlSessionStore:
    db: Database

    def add_session(self, session: BrowserSession) -> None:
        values = dict(session.__dict__)
        values["amr"] = list(session.amr)
        values["reauth_amr"] = list(session.reauth_amr) if session.reauth_amr is not None else None
        with self.db.begin() as conn:
            conn.execute(t.insert().values(**values))

    def get_session(self, id_hash: str) -> BrowserSession | None:
        with self.db.connect() as conn:
            return _row(conn.execute(sa.select(t).where(t.c.id_hash == id_hash)).first())

    def get_session_by_sid(self, sid: str) -> BrowserSession | None:
        with self.db.connect() as conn:
            return _row(conn.execute(sa.select(t).where(t.c.sid == sid)).first())

    def touch_session(self, id_hash: str, now: int) -> None:
        with self.db.begin() as conn:
            conn.execute(t.update().where(t.c.id_hash == id_hash).values(last_seen_at=now))

    def delete_session(self, id_hash: str) -> BrowserSession | None:
        with self.db.begin() as conn:
            found = _row(conn.execute(sa.select(t).where(t.c.id_hash == id_hash)).first())
            if found is not None:
                conn.execute(t.delete().where(t.c.id_hash == id_hash))
            return found

    def list_user_sessions(self, user_id: str) -> list[BrowserSession]:
        query = sa.select(t).where(t.c.user_id == user_id).order_by(t.c.last_seen_at.desc())
        with self.db.connect() as conn:
            return [s for s in (_row(r) for r in conn.execute(query)) if s is not None]

    def mark_reauthenticated(self, id_hash: str, at: int, amr: Sequence[str]) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(t.update().where(t.c.id_hash == id_hash).values(reauth_at=at, reauth_amr=list(amr)))
            return result.rowcount == 1
