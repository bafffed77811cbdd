"""Initial access tokens for dynamic client registration (RFC 7591 §3), stored as SHA-256 hashes."""

from __future__ import annotations

import sqlalchemy as sa

from authserver.store.sql.engine import Database
from authserver.store.sql.tables import registration_tokens as t


class SqlRegistrationStore:
    db: Database

    def add_registration_token(
        self, token_hash: str, *, uses: int | None, expires_at: int | None, created_at: int
    ) -> None:
        with self.db.begin() as conn:
            conn.execute(
                t.insert().values(token_hash=token_hash, uses_left=uses, expires_at=expires_at, created_at=created_at)
            )

    def use_registration_token(self, token_hash: str, now: int) -> bool:
        """Spend one use of a live token, atomically (of concurrent registrations with its last use, one
        wins); a token out of uses is deleted."""
        live = sa.and_(t.c.token_hash == token_hash, sa.or_(t.c.expires_at.is_(None), t.c.expires_at > now))
        with self.db.begin() as conn:
            unlimited = conn.execute(sa.select(t.c.token_hash).where(live, t.c.uses_left.is_(None))).first()
            if unlimited is not None:
                return True
            spent = conn.execute(t.update().where(live, t.c.uses_left > 0).values(uses_left=t.c.uses_left - 1))
            if spent.rowcount == 0:
                return False
            conn.execute(t.delete().where(t.c.token_hash == token_hash, t.c.uses_left <= 0))
            return True
