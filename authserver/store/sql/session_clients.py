"""Which clients a browser session signed in to, for back-channel logout (OIDC BCL 1.0 §2.7)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from authserver.domain import Client, OutboxMessage
from authserver.store.sql.clients import _row_to_client
from authserver.store.sql.engine import Database
from authserver.store.sql.outbox import insert_messages
from authserver.store.sql.tables import clients
from authserver.store.sql.tables import session_clients as t

# No session lives longer than this (Settings.session_ttl is at most 30 days): older rows are garbage.
_KEEP_SECONDS = 31 * 86400


class SqlSessionClientStore:
    db: Database

    def add_session_client(self, sid: str, client_id: str, user_id: str, now: int) -> None:
        with self.db.begin() as conn:
            conn.execute(t.delete().where(t.c.created_at < now - _KEEP_SECONDS))
            exists = conn.execute(sa.select(t.c.sid).where(t.c.sid == sid, t.c.client_id == client_id)).first()
            if exists is None:
                conn.execute(t.insert().values(sid=sid, client_id=client_id, user_id=user_id, created_at=now))

    def end_session_clients(
        self, sid: str, notices: Callable[[Sequence[Client]], Sequence[OutboxMessage]]
    ) -> list[Client]:
        with self.db.begin() as conn:
            query = sa.select(clients).join(t, t.c.client_id == clients.c.client_id).where(t.c.sid == sid)
            taking_part = [_row_to_client(row) for row in conn.execute(query)]
            conn.execute(t.delete().where(t.c.sid == sid))
            insert_messages(conn, notices(taking_part))
        return taking_part
