from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from authserver.domain import SigningKey
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import signing_keys


class SqlKeyStore:
    db: Database

    def list_keys(self) -> Sequence[SigningKey]:
        query = sa.select(signing_keys).order_by(signing_keys.c.activates_at, signing_keys.c.created_at)
        with self.db.connect() as conn:
            return [SigningKey(**row._mapping) for row in conn.execute(query)]

    def add_key(self, key: SigningKey) -> None:
        with self.db.begin() as conn:
            conn.execute(
                signing_keys.insert().values(
                    kid=key.kid,
                    alg=key.alg,
                    public_jwk=key.public_jwk,
                    private_key_enc=key.private_key_enc,
                    created_at=key.created_at,
                    activates_at=key.activates_at,
                )
            )

    def delete_keys(self, kids: Sequence[str]) -> None:
        if kids:
            with self.db.begin() as conn:
                conn.execute(signing_keys.delete().where(signing_keys.c.kid.in_(list(kids))))
