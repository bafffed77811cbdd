from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from authserver.domain import RefreshToken, device_grant_id
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import auth_codes as codes
from authserver.store.sql.tables import device_codes as devs
from authserver.store.sql.tables import refresh_tokens as t


def _values(token: RefreshToken) -> dict[str, Any]:
    values = dict(token.__dict__)
    values["amr"] = list(token.amr)
    values["resources"] = list(token.resources)
    return values


def _device_grants(conn: Connection, now: int, *where: sa.ColumnElement[bool]) -> list[str]:
    """Device grants exchanged within a day (live access tokens, maybe no refresh token to find them by)."""
    query = sa.select(devs.c.device_code_hash).where(
        *where, devs.c.consumed_at.is_not(None), devs.c.consumed_at > now - 86400
    )
    return [device_grant_id(r[0]) for r in conn.execute(query)]


class SqlRefreshTokenStore:
    db: Database

    def add_refresh_token(self, token: RefreshToken) -> None:
        with self.db.begin() as conn:
            conn.execute(t.insert().values(**_values(token)))

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.token_hash == token_hash)).first()
        if row is None:
            return None
        m = dict(row._mapping)
        m["amr"] = tuple(m["amr"])
        m["resources"] = tuple(m["resources"])
        return RefreshToken(**m)

    def rotate_refresh_token(self, old_hash: str, new: RefreshToken, now: int) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                t.update()
                .where(t.c.token_hash == old_hash, t.c.used_at.is_(None), t.c.revoked_at.is_(None))
                .values(used_at=now)
            )
            if result.rowcount != 1:
                return False
            conn.execute(t.insert().values(**_values(new)))
            return True

    def revoke_grant(self, grant_id: str, now: int) -> int:
        with self.db.begin() as conn:
            result = conn.execute(
                t.update().where(t.c.grant_id == grant_id, t.c.revoked_at.is_(None)).values(revoked_at=now)
            )
            return result.rowcount

    def revoke_session_grants(self, sid: str, now: int) -> list[str]:
        live = sa.and_(t.c.sid == sid, t.c.offline.is_(False), t.c.revoked_at.is_(None))
        with self.db.begin() as conn:
            grants = [r[0] for r in conn.execute(sa.select(t.c.grant_id).where(live).distinct())]
            # Grants without refresh tokens (clients lacking that grant) are found through their codes.
            redeemed = sa.select(codes.c.grant_id, codes.c.scope).where(
                codes.c.sid == sid, codes.c.used_at.is_not(None), codes.c.expires_at > now - 86400
            )
            offline_grants = {r[0] for r in conn.execute(sa.select(t.c.grant_id).where(t.c.sid == sid, t.c.offline))}
            for grant_id, scope in conn.execute(redeemed):
                if "offline_access" not in scope.split() and grant_id not in offline_grants:
                    grants.append(grant_id)
            grants = list(dict.fromkeys(grants))
            if grants:
                conn.execute(
                    t.update().where(t.c.grant_id.in_(grants), t.c.revoked_at.is_(None)).values(revoked_at=now)
                )
            return grants

    def revoke_user_client_grants(self, user_id: str, client_id: str, now: int) -> list[str]:
        live = sa.and_(t.c.user_id == user_id, t.c.client_id == client_id, t.c.revoked_at.is_(None))
        with self.db.begin() as conn:
            grants = [r[0] for r in conn.execute(sa.select(t.c.grant_id).where(live).distinct())]
            # Grants without refresh tokens still have live access tokens for a while: found via their codes.
            recent = sa.select(codes.c.grant_id).where(
                codes.c.user_id == user_id,
                codes.c.client_id == client_id,
                codes.c.used_at.is_not(None),
                codes.c.expires_at > now - 86400,
            )
            grants += [r[0] for r in conn.execute(recent)]
            grants += _device_grants(conn, now, devs.c.user_id == user_id, devs.c.client_id == client_id)
            grants = list(dict.fromkeys(grants))
            if grants:
                conn.execute(
                    t.update().where(t.c.grant_id.in_(grants), t.c.revoked_at.is_(None)).values(revoked_at=now)
                )
            return grants

    def revoke_user_grants(self, user_id: str, now: int) -> list[str]:
        with self.db.begin() as conn:
            live = sa.and_(t.c.user_id == user_id, t.c.revoked_at.is_(None))
            grants = [r[0] for r in conn.execute(sa.select(t.c.grant_id).where(live).distinct())]
            recent = sa.select(codes.c.grant_id).where(
                codes.c.user_id == user_id, codes.c.used_at.is_not(None), codes.c.expires_at > now - 86400
            )
            grants += [r[0] for r in conn.execute(recent)]
            grants += _device_grants(conn, now, devs.c.user_id == user_id)
            grants = list(dict.fromkeys(grants))
            if grants:
                conn.execute(
                    t.update().where(t.c.grant_id.in_(grants), t.c.revoked_at.is_(None)).values(revoked_at=now)
                )
            return grants
