from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from authserver.domain import Client
from authserver.store import DuplicateError
from authserver.store.sql.engine import Database
from authserver.store.sql.tables import clients


def _row_to_client(row: sa.Row[Any]) -> Client:
    m = row._mapping
    return Client(
        client_id=m["client_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        token_endpoint_auth_method=m["token_endpoint_auth_method"],
        grant_types=tuple(m["grant_types"]),
        redirect_uris=tuple(m["redirect_uris"]),
        post_logout_redirect_uris=tuple(m["post_logout_redirect_uris"]),
        scopes=tuple(m["scopes"]),
        resources=tuple(m["resources"]),
        jwks=m["jwks"],
        first_party=m["first_party"],
        disabled=m["disabled"],
        created_at=m["created_at"],
        require_mfa=m["require_mfa"],
        require_par=m["require_par"],
        require_signed_request_object=m["require_signed_request_object"],
        dpop_bound_access_tokens=m["dpop_bound_access_tokens"],
        backchannel_logout_uri=m["backchannel_logout_uri"],
        backchannel_logout_session_required=m["backchannel_logout_session_required"],
        introspect_audiences=tuple(m["introspect_audiences"] or ()),
        version=m["version"],
        client_metadata=dict(m["client_metadata"] or {}),
        registered_by=m["registered_by"],
        registration_token_hash=m["registration_token_hash"],
    )


def _values(client: Client) -> dict[str, Any]:
    """Every column but the key, the creation time and the version."""
    return {
        "name": client.name,
        "secret_hash": client.secret_hash,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scopes": list(client.scopes),
        "resources": list(client.resources),
        "jwks": client.jwks,
        "first_party": client.first_party,
        "disabled": client.disabled,
        "require_mfa": client.require_mfa,
        "require_par": client.require_par,
        "require_signed_request_object": client.require_signed_request_object,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "introspect_audiences": list(client.introspect_audiences),
        "client_metadata": dict(client.client_metadata),
        "registered_by": client.registered_by,
        "registration_token_hash": client.registration_token_hash,
    }


# Every change bumps the version (the admin API's ETag).
_BUMP = {"version": clients.c.version + 1}


class SqlClientStore:
    db: Database

    def get_client(self, client_id: str) -> Client | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(clients).where(clients.c.client_id == client_id)).first()
        return _row_to_client(row) if row else None

    def add_client(self, client: Client) -> None:
        values = {"client_id": client.client_id, "created_at": client.created_at, "version": 1, **_values(client)}
        try:
            with self.db.begin() as conn:
                conn.execute(clients.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise DuplicateError(f"client {client.client_id} already exists") from exc

    def list_clients(self, *, limit: int | None = None, after: str | None = None) -> Sequence[Client]:
        query = sa.select(clients).order_by(clients.c.created_at, clients.c.client_id).limit(limit)
        if after is not None:
            anchor = sa.select(clients.c.created_at).where(clients.c.client_id == after).scalar_subquery()
            query = query.where(sa.tuple_(clients.c.created_at, clients.c.client_id) > sa.tuple_(anchor, after))
        with self.db.connect() as conn:
            return [_row_to_client(r) for r in conn.execute(query)]

    def replace_client(self, client: Client, *, expected_version: int) -> bool:
        with self.db.begin() as conn:
            query = (
                clients.update()
                .where(clients.c.client_id == client.client_id, clients.c.version == expected_version)
                .values(**_values(client), **_BUMP)
            )
            return conn.execute(query).rowcount > 0

    def set_client_secret_hash(self, client_id: str, secret_hash: str) -> bool:
        with self.db.begin() as conn:
            query = clients.update().where(clients.c.client_id == client_id).values(secret_hash=secret_hash, **_BUMP)
            return conn.execute(query).rowcount > 0

    def set_registration_token_hash(self, client_id: str, token_hash: str) -> bool:
        with self.db.begin() as conn:
            query = (
                clients.update()
                .where(clients.c.client_id == client_id)
                .values(registration_token_hash=token_hash, **_BUMP)
            )
            return conn.execute(query).rowcount > 0

    def delete_client(self, client_id: str) -> bool:
        with self.db.begin() as conn:
            return conn.execute(clients.delete().where(clients.c.client_id == client_id)).rowcount > 0

    def set_client_disabled(self, client_id: str, disabled: bool) -> bool:
        with self.db.begin() as conn:
            query = clients.update().where(clients.c.client_id == client_id).values(disabled=disabled, **_BUMP)
            return conn.execute(query).rowcount > 0

    def set_client_introspect_audiences(self, client_id: str, audiences: Sequence[str]) -> bool:
        with self.db.begin() as conn:
            query = (
                clients.update()
                .where(clients.c.client_id == client_id)
                .values(introspect_audiences=list(audiences), **_BUMP)
            )
            return conn.execute(query).rowcount > 0
