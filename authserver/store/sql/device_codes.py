from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from authserver.domain import DeviceCode
from authserver.store import DuplicateError
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import device_codes as t


def _row(row: sa.Row[Any] | None) -> DeviceCode | None:
    if row is None:
        return None
    m = dict(row._mapping)
    m["resources"] = tuple(m["resources"])
    m["amr"] = tuple(m["amr"]) if m["amr"] is not None else None
    m["acr_values"] = tuple(m["acr_values"] or ())
    return DeviceCode(**m)


class SqlDeviceCodeStore:
    db: Database

    def add_device_code(self, code: DeviceCode) -> None:
        values = dict(code.__dict__)
        values["resources"] = list(code.resources)
        values["acr_values"] = list(code.acr_values)
        try:
            with self.db.begin() as conn:
                conn.execute(t.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise DuplicateError("user code taken") from exc

    def get_device_code(self, device_code_hash: str) -> DeviceCode | None:
        with self.db.connect() as conn:
            return _row(conn.execute(sa.select(t).where(t.c.device_code_hash == device_code_hash)).first())

    def find_pending_user_code(self, user_code: str, now: int) -> DeviceCode | None:
        query = sa.select(t).where(t.c.user_code == user_code, t.c.status == "pending", t.c.expires_at > now)
        with self.db.connect() as conn:
            return _row(conn.execute(query).first())

    def decide_device_code(
        self,
        device_code_hash: str,
        *,
        approved: bool,
        user_id: str,
        auth_time: int,
        amr: tuple[str, ...],
        acr: str,
        sid: str,
        now: int,
    ) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.device_code_hash == device_code_hash, t.c.status == "pending", t.c.expires_at > now)
                .values(
                    status="approved" if approved else "denied",
                    user_id=user_id,
                    auth_time=auth_time,
                    amr=list(amr),
                    acr=acr,
                    sid=sid,
                )
            )
            return result.rowcount == 1

    def consume_device_code(self, device_code_hash: str, now: int) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.device_code_hash == device_code_hash, t.c.status == "approved", t.c.consumed_at.is_(None))
                .values(consumed_at=now)
            )
            return result.rowcount == 1
