"""Upstream identity providers and the identities linked through them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from authserver.domain import Upstream, UpstreamIdentity, User
from authserver.store import DuplicateError, Removal
from authserver.store.sql.engine import Database
from authserver.store.sql.factors import lock_factors, ways_in
from authserver.store.sql.tables import upstream_identities, upstreams, users

_TUPLES = ("scopes", "id_token_algs", "mfa_acr_values")


def _upstream(row: sa.Row[Any]) -> Upstream:
    m = dict(row._mapping)
    for key in _TUPLES:
        m[key] = tuple(m[key] or ())
    m["claim_map"] = dict(m["claim_map"] or {})
    return Upstream(**m)


def _identity(row: sa.Row[Any]) -> UpstreamIdentity:
    return UpstreamIdentity(**dict(row._mapping))


class SqlUpstreamStore:
    db: Database

    def add_upstream(self, upstream: Upstream) -> None:
        values = dict(upstream.__dict__)
        for key in _TUPLES:
            values[key] = list(values[key])
        try:
            with self.db.begin() as conn:
                conn.execute(upstreams.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise DuplicateError(f"an upstream named {upstream.name} exists already") from exc

    def get_upstream(self, name: str) -> Upstream | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(upstreams).where(upstreams.c.name == name)).first()
        return _upstream(row) if row else None

    def list_upstreams(self) -> Sequence[Upstream]:
        with self.db.connect() as conn:
            return [_upstream(r) for r in conn.execute(sa.select(upstreams).order_by(upstreams.c.name))]

    def delete_upstream(self, name: str) -> bool:
        with self.db.begin() as conn:
            conn.execute(upstream_identities.delete().where(upstream_identities.c.upstream == name))
            return conn.execute(upstreams.delete().where(upstreams.c.name == name)).rowcount > 0

    def get_upstream_identity(self, upstream: str, subject: str) -> UpstreamIdentity | None:
        t = upstream_identities
        with self.db.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.upstream == upstream, t.c.subject == subject)).first()
        return _identity(row) if row else None

    def list_upstream_identities(self, user_id: str) -> Sequence[UpstreamIdentity]:
        t = upstream_identities
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.user_id == user_id).order_by(t.c.upstream))
            return [_identity(r) for r in rows]

    def add_upstream_identity(self, identity: UpstreamIdentity) -> None:
        try:
            with self.db.begin() as conn:
                conn.execute(upstream_identities.insert().values(**identity.__dict__))
        except sa.exc.IntegrityError as exc:
            raise DuplicateError("that upstream account, or an account of that upstream, is linked already") from exc

    def add_federated_user(self, user: User, identity: UpstreamIdentity) -> None:
        try:
            with self.db.begin() as conn:
                conn.execute(
                    users.insert().values(
                        id=user.id,
                        username=user.username.lower(),
                        email=user.email.lower(),
                        name=user.name,
                        password_hash=user.password_hash,
                        email_verified=user.email_verified,
                        disabled=user.disabled,
                        created_at=user.created_at,
                    )
                )
                conn.execute(upstream_identities.insert().values(**identity.__dict__))
        except sa.exc.IntegrityError as exc:
            raise DuplicateError("username, email or upstream account already taken") from exc

    def touch_upstream_identity(self, upstream: str, subject: str, now: int) -> None:
        t = upstream_identities
        with self.db.begin() as conn:
            conn.execute(t.update().where(t.c.upstream == upstream, t.c.subject == subject).values(last_used_at=now))

    def delete_upstream_identity(self, user_id: str, upstream: str, *, keep_a_way_in: bool) -> Removal:
        t = upstream_identities
        mine = (t.c.user_id == user_id) & (t.c.upstream == upstream)
        with self.db.begin() as conn:
            lock_factors(conn, user_id)  # serialises with passkey removals and other unlinks of the account
            if conn.execute(sa.select(t.c.subject).where(mine)).first() is None:
                return Removal.NOT_FOUND
            if keep_a_way_in and ways_in(conn, user_id) <= 1:
                return Removal.LAST_WAY_IN
            conn.execute(t.delete().where(mine))
            return Removal.REMOVED
