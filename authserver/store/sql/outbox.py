"""The outbox: messages stored with their cause, claimed by one sender at a time, marked sent.

A sender claims due messages with one UPDATE ... RETURNING: on PostgreSQL the candidate rows are
chosen with FOR UPDATE SKIP LOCKED, so concurrent senders (workers, nodes) each get different rows
without waiting; on SQLite the single writer serialises claims. A claim is a lease: if the sender
dies, the message is due again when the lease ends (at-least-once; a message is sent twice only when
a sender dies between the SMTP answer and marking it sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from authserver.domain import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT, OutboxMessage
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import outbox as t

# Delivered messages are kept (without their payload) this long for `authserver mail queue --all`.
SENT_RETENTION = 7 * 86400
_FIELDS = (
    "id",
    "kind",
    "destination",
    "summary",
    "payload",
    "created_at",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
)


def _message(row: sa.Row[Any]) -> OutboxMessage:
    m = row._mapping
    return OutboxMessage(**{k: m[k] for k in _FIELDS})


def insert_messages(conn: Connection, messages: Sequence[OutboxMessage]) -> None:
    """Add messages inside a transaction another store method opened (the message's cause)."""
    for message in messages:
        conn.execute(
            t.insert().values(
                id=message.id,
                kind=message.kind,
                destination=message.destination[:320],
                summary=message.summary[:300],
                payload=message.payload,
                status=message.status,
                attempts=message.attempts,
                next_attempt_at=message.next_attempt_at,
                created_at=message.created_at,
            )
        )


class SqlOutboxStore:
    db: Database

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        with self.db.begin() as conn:
            insert_messages(conn, messages)

    def claim_outbox(self, owner: str, now: int, lease_seconds: int, limit: int) -> list[OutboxMessage]:
        due = sa.and_(
            t.c.status == OUTBOX_PENDING,
            t.c.next_attempt_at <= now,
            sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now),
        )
        with self.db.connect() as conn:
            # A read first: most rounds find nothing, and should not take SQLite's write lock for it.
            if conn.execute(sa.select(t.c.id).where(due).limit(1)).first() is None:
                return []
        with self.db.begin() as conn:
            candidates = sa.select(t.c.id).where(due).order_by(t.c.next_attempt_at, t.c.created_at).limit(limit)
            if conn.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            claimed = conn.execute(
                t.update()
                .where(t.c.id.in_(candidates.scalar_subquery()), due)
                .values(lease_owner=owner, lease_until=now + lease_seconds)
                .returning(*t.c)
            ).all()
        return sorted((_message(r) for r in claimed), key=lambda m: (m.next_attempt_at, m.created_at))

    def outbox_sent(self, message_id: str, owner: str, now: int) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == message_id, t.c.lease_owner == owner, t.c.status == OUTBOX_PENDING)
                .values(
                    status=OUTBOX_SENT,
                    sent_at=now,
                    payload="",
                    attempts=t.c.attempts + 1,
                    lease_owner=None,
                    lease_until=None,
                    last_error=None,
                )
            )
            conn.execute(t.delete().where(t.c.status == OUTBOX_SENT, t.c.sent_at < now - SENT_RETENTION))
            return result.rowcount == 1

    def outbox_retry(self, message_id: str, owner: str, error: str, retry_at: int | None) -> bool:
        """Record a failed attempt: due again at `retry_at`, or given up (failed) when it is None."""
        values: dict[str, object] = {
            "attempts": t.c.attempts + 1,
            "last_error": error[:500],
            "lease_owner": None,
            "lease_until": None,
        }
        if retry_at is None:
            values["status"] = OUTBOX_FAILED
        else:
            values["next_attempt_at"] = retry_at
        with self.db.begin() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == message_id, t.c.lease_owner == owner, t.c.status == OUTBOX_PENDING)
                .values(**values)
            )
            return result.rowcount == 1

    def list_outbox(self, statuses: Sequence[str]) -> list[OutboxMessage]:
        query = sa.select(t).where(t.c.status.in_(list(statuses))).order_by(t.c.created_at, t.c.id)
        with self.db.connect() as conn:
            return [_message(r) for r in conn.execute(query)]

    def retry_outbox(self, message_id: str, now: int) -> bool:
        """An operator's retry of a failed message: pending again, due now."""
        with self.db.begin() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.id == message_id, t.c.status == OUTBOX_FAILED)
                .values(status=OUTBOX_PENDING, next_attempt_at=now, attempts=0)
            )
            return result.rowcount == 1
