from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from authserver.domain import SigningKey
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import signing_keys


def _values(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "public_jwk": key.public_jwk,
        "private_key_enc": key.private_key_enc,
        "created_at": key.created_at,
        "activates_at": key.activates_at,
    }


class SqlKeyStore:
    db: Database

    def list_keys(self) -> Sequence[SigningKey]:
        query = sa.select(signing_keys).order_by(signing_keys.c.activates_at, signing_keys.c.created_at)
        with self.db.connect() as conn:
            return [SigningKey(**row._mapping) for row in conn.execute(query)]

    def add_key(self, key: SigningKey) -> None:
        with self.db.begin() as conn:
            conn.execute(signing_keys.insert().values(**_values(key)))

    def add_first_key(self, key: SigningKey) -> bool:
        with self.db.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two nodes starting on an empty database: the advisory lock makes the check and the
                # insert one step, so exactly one first key exists.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7212630301)"))
                if conn.execute(sa.select(signing_keys.c.kid).limit(1)).first() is not None:
                    return False
                conn.execute(signing_keys.insert().values(**_values(key)))
                return True
            # SQLite serialises writers: a single INSERT ... WHERE NOT EXISTS is atomic there.
            values = _values(key)
            columns = list(values)
            select = sa.select(*[sa.literal(values[c], type_=signing_keys.c[c].type) for c in columns]).where(
                ~sa.exists(sa.select(signing_keys.c.kid))
            )
            result = conn.execute(signing_keys.insert().from_select(columns, select))
            return result.rowcount == 1

    def delete_keys(self, kids: Sequence[str]) -> None:
        if kids:
            with self.db.begin() as conn:
                conn.execute(signing_keys.delete().where(signing_keys.c.kid.in_(list(kids))))
