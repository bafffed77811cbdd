from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from authserver.domain import AuditEvent
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import audit_events as t


class SqlAuditStore:
    db: Database

    def add_audit_event(
        self,
        event: str,
        ts: int,
        user_id: str | None,
        client_id: str | None,
        ip: str | None,
        user_agent: str | None,
        data: dict[str, Any],
    ) -> None:
        with self.db.begin() as conn:
            conn.execute(
                t.insert().values(
                    event=event,
                    ts=ts,
                    user_id=user_id,
                    client_id=client_id,
                    ip=ip,
                    user_agent=(user_agent or "")[:300] or None,
                    data=data,
                )
            )

    def list_audit_events(
        self,
        *,
        user_id: str | None = None,
        since: int | None = None,
        limit: int = 1000,
        client_id: str | None = None,
        event: str | None = None,
        until: int | None = None,
        after_id: int | None = None,
    ) -> list[AuditEvent]:
        query = sa.select(t).order_by(t.c.ts, t.c.id).limit(limit)
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        if client_id is not None:
            query = query.where(t.c.client_id == client_id)
        if event is not None:
            query = query.where(t.c.event == event)
        if since is not None:
            query = query.where(t.c.ts >= since)
        if until is not None:
            query = query.where(t.c.ts < until)
        if after_id is not None:
            # A keyset page: events after that one in (ts, id) order.
            anchor = sa.select(t.c.ts).where(t.c.id == after_id).scalar_subquery()
            query = query.where(sa.tuple_(t.c.ts, t.c.id) > sa.tuple_(anchor, after_id))
        with self.db.connect() as conn:
            return [AuditEvent(**row._mapping) for row in conn.execute(query)]

    def latest_audit_events(self, user_id: str, events: Sequence[str], limit: int) -> list[AuditEvent]:
        query = (
            sa.select(t)
            .where(t.c.user_id == user_id, t.c.event.in_(list(events)))
            .order_by(t.c.ts.desc(), t.c.id.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [AuditEvent(**row._mapping) for row in conn.execute(query)]
