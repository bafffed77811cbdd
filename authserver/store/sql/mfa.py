from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from authserver.domain import TotpFactor
from authserver.store import Removal
from authserver.store.sql.engine import Database
from authserver.store.sql.factors import count_factors, lock_factors
from authserver.store.sql.tables import backup_codes as codes
from authserver.store.sql.tables import totp_factors as totp


class SqlMfaStore:
    db: Database

    def get_totp(self, user_id: str) -> TotpFactor | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(totp).where(totp.c.user_id == user_id)).first()
        return TotpFactor(**row._mapping) if row else None

    def start_totp(self, user_id: str, secret_enc: str, now: int) -> bool:
        with self.db.begin() as conn:
            row = conn.execute(sa.select(totp.c.confirmed_at).where(totp.c.user_id == user_id)).first()
            if row is not None and row[0] is not None:
                return False
            if row is not None:
                conn.execute(totp.delete().where(totp.c.user_id == user_id))
            conn.execute(totp.insert().values(user_id=user_id, secret_enc=secret_enc, created_at=now))
            return True

    def confirm_totp(self, user_id: str, step: int, now: int) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                totp.update()
                .where(totp.c.user_id == user_id, totp.c.confirmed_at.is_(None))
                .values(confirmed_at=now, last_step=step)
            )
            return result.rowcount == 1

    def use_totp_step(self, user_id: str, step: int) -> bool:
        # The conditional update is the replay guard: a step is accepted at most once, on any node.
        with self.db.begin() as conn:
            result = conn.execute(
                totp.update()
                .where(
                    totp.c.user_id == user_id,
                    totp.c.confirmed_at.is_not(None),
                    sa.or_(totp.c.last_step.is_(None), totp.c.last_step < step),
                )
                .values(last_step=step)
            )
            return result.rowcount == 1

    def delete_totp(self, user_id: str, *, keep_a_factor: bool = False) -> Removal:
        with self.db.begin() as conn:
            lock_factors(conn, user_id)
            row = conn.execute(sa.select(totp.c.confirmed_at).where(totp.c.user_id == user_id)).first()
            if row is None:
                return Removal.NOT_FOUND
            # An unconfirmed secret is no factor: it can always go.
            if keep_a_factor and row[0] is not None and count_factors(conn, user_id) <= 1:
                return Removal.LAST_FACTOR
            conn.execute(codes.delete().where(codes.c.user_id == user_id))
            conn.execute(totp.delete().where(totp.c.user_id == user_id))
            return Removal.REMOVED

    def replace_backup_codes(self, user_id: str, code_hashes: Sequence[str], now: int) -> None:
        with self.db.begin() as conn:
            conn.execute(codes.delete().where(codes.c.user_id == user_id))
            conn.execute(codes.insert(), [{"code_hash": h, "user_id": user_id, "created_at": now} for h in code_hashes])

    def use_backup_code(self, user_id: str, code_hash: str, now: int) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                codes.update()
                .where(codes.c.user_id == user_id, codes.c.code_hash == code_hash, codes.c.used_at.is_(None))
                .values(used_at=now)
            )
            return result.rowcount == 1

    def count_backup_codes(self, user_id: str) -> int:
        query = sa.select(sa.func.count()).where(codes.c.user_id == user_id, codes.c.used_at.is_(None))
        with self.db.connect() as conn:
            return int(conn.execute(query).scalar_one())
