"""The SQLAlchemy 2 store: one module per aggregate, composed here. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from authserver.store.sql.account_links import SqlAccountLinkStore
from authserver.store.sql.audit import SqlAuditStore
from authserver.store.sql.clients import SqlClientStore
from authserver.store.sql.codes import SqlCodeStore
from authserver.store.sql.consents import SqlConsentStore
from authserver.store.sql.device_codes import SqlDeviceCodeStore
from authserver.store.sql.engine import Database, make_engine
from authserver.store.sql.keys import SqlKeyStore
from authserver.store.sql.mfa import SqlMfaStore
from authserver.store.sql.outbox import SqlOutboxStore
from authserver.store.sql.passkeys import SqlPasskeyStore
from authserver.store.sql.purge import SqlPurgeStore
from authserver.store.sql.refresh_tokens import SqlRefreshTokenStore
from authserver.store.sql.registration import SqlRegistrationStore
from authserver.store.sql.revocations import SqlRevocationStore
from authserver.store.sql.session_clients import SqlSessionClientStore
from authserver.store.sql.sessions import SqlSessionStore
from authserver.store.sql.upstreams import SqlUpstreamStore
from authserver.store.sql.users import SqlUserStore


class SqlStore(
    SqlClientStore,
    SqlUserStore,
    SqlKeyStore,
    SqlSessionStore,
    SqlCodeStore,
    SqlRefreshTokenStore,
    SqlRevocationStore,
    SqlConsentStore,
    SqlDeviceCodeStore,
    SqlMfaStore,
    SqlPasskeyStore,
    SqlAuditStore,
    SqlOutboxStore,
    SqlAccountLinkStore,
    SqlUpstreamStore,
    SqlSessionClientStore,
    SqlPurgeStore,
    SqlRegistrationStore,
):
    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> SqlStore:
        return cls(Database(make_engine(url, pool_size=pool_size)))

    def ping(self) -> None:
        self.db.ping()

    def close(self) -> None:
        self.db.close()


__all__ = ["SqlStore"]
