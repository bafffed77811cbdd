from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from authserver.domain import Passkey
from authserver.store import DuplicateError, Removal
from authserver.store.sql.engine import Database
from authserver.store.sql.factors import count_factors, lock_factors, ways_in
from authserver.store.sql.tables import passkeys as pk


def _row_to_passkey(row: sa.Row[Any]) -> Passkey:
    m = dict(row._mapping)
    m["transports"] = tuple(m["transports"] or ())
    m["public_key"] = bytes(m["public_key"])
    return Passkey(**m)


class SqlPasskeyStore:
    db: Database

    def add_passkey(self, passkey: Passkey) -> None:
        values = {**passkey.__dict__, "transports": list(passkey.transports)}
        try:
            with self.db.begin() as conn:
                conn.execute(pk.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise DuplicateError("credential already registered") from exc

    def get_passkey(self, credential_id: str) -> Passkey | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(pk).where(pk.c.credential_id == credential_id)).first()
        return _row_to_passkey(row) if row else None

    def list_passkeys(self, user_id: str) -> Sequence[Passkey]:
        query = sa.select(pk).where(pk.c.user_id == user_id).order_by(pk.c.created_at, pk.c.credential_id)
        with self.db.connect() as conn:
            return [_row_to_passkey(r) for r in conn.execute(query)]

    def record_passkey_use(
        self, credential_id: str, *, sign_count: int, backed_up: bool, now: int, counter_must_advance: bool
    ) -> bool:
        conditions = [pk.c.credential_id == credential_id]
        if counter_must_advance:
            conditions.append(pk.c.sign_count < sign_count)
        # A synced passkey's counter may be 0 or vary by device: keep the highest one seen.
        count = sa.case((pk.c.sign_count > sign_count, pk.c.sign_count), else_=sign_count)
        with self.db.begin() as conn:
            result = conn.execute(
                pk.update().where(*conditions).values(sign_count=count, backed_up=backed_up, last_used_at=now)
            )
            return result.rowcount == 1

    def rename_passkey(self, user_id: str, credential_id: str, name: str) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                pk.update().where(pk.c.user_id == user_id, pk.c.credential_id == credential_id).values(name=name)
            )
            return result.rowcount == 1

    def delete_passkey(self, user_id: str, credential_id: str, *, keep_a_factor: bool) -> Removal:
        mine = (pk.c.user_id == user_id) & (pk.c.credential_id == credential_id)
        with self.db.begin() as conn:
            lock_factors(conn, user_id)
            if conn.execute(sa.select(pk.c.credential_id).where(mine)).first() is None:
                return Removal.NOT_FOUND
            if keep_a_factor and count_factors(conn, user_id) <= 1:
                return Removal.LAST_FACTOR
            if ways_in(conn, user_id) <= 1:
                return Removal.LAST_WAY_IN  # an account made through an upstream, without a password
            conn.execute(pk.delete().where(mine))
            return Removal.REMOVED

    def delete_passkeys(self, user_id: str) -> int:
        with self.db.begin() as conn:
            return int(conn.execute(pk.delete().where(pk.c.user_id == user_id)).rowcount)
