"""The denylist of revoked access tokens and grants, and the record of used single-use values.

The cache holds the copy every token check reads (one round trip); the database holds the durable
copy, written first, so an emptied or failed-over Redis (or a restarted process with the in-process
cache) forgets nothing that still matters:
- a marker key `revocations-loaded` lives beside the entries; a check that finds it missing reloads
  every unexpired entry from the database before answering (fail closed if it cannot);
- each worker copies entries written elsewhere (the CLI, which cannot reach an in-process cache)
  every `revocation_sync_seconds`;
- a single-use value (a private_key_jwt assertion id) is refused if the cache or the database has
  seen it, so a replay after a wipe still fails.
Entries are dropped once they can no longer matter: when the token, the grant's last access token or
the assertion would have expired anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Final

from authserver.cache import Cache
from authserver.clock import Clock, system_clock
from authserver.domain import Revocation, RevocationKind
from authserver.errors import StorageUnavailable
from authserver.store import RefreshTokenStore, RevocationStore

JTI: Final = "jti"
GRANT: Final = "grant"
ASSERTION: Final = "assertion"
_PREFIX = {JTI: "revoked-jti:", GRANT: "revoked-grant:", ASSERTION: "used-assertion:"}
LOADED = "revocations-loaded"
# The marker is renewed by a full reload at least this often, whatever happens to the cache.
_LOADED_TTL = 3600
# Ids are not handed out in commit order; re-reading the last minute catches a late commit.
_OVERLAP = 60

logger = logging.getLogger(__name__)


class Denylist:
    def __init__(
        self,
        cache: Cache,
        store: RevocationStore,
        *,
        sync_seconds: float,
        clock: Clock = system_clock,
    ) -> None:
        self._cache = cache
        self._store = store
        self._sync_seconds = sync_seconds
        self.now = clock  # expiry of entries and of single-use values
        self._lock = threading.Lock()
        self._cursor = 0
        # When this process last copied entries from the database: an interval measured in-process (time.monotonic),
        # not an expiry.
        self._synced_at = float("-inf")

    def revoke(self, entries: Sequence[Revocation]) -> None:
        """Deny these: durably first, then in the cache for every worker and node at once."""
        if not entries:
            return
        now = int(self.now())
        self._store.add_revocations(entries, now)
        for entry in entries:
            self._cache_entry(entry, now)

    def deny_grants(self, grant_ids: Sequence[str], *, reason: str, access_ttl: int) -> None:
        """Deny the access tokens of grants whose refresh tokens are already revoked."""
        # A grant's last access token was issued before its refresh tokens were revoked: it expires
        # within one access-token lifetime (plus a minute of clock skew between nodes).
        expires_at = int(self.now()) + access_ttl + 60
        self.revoke([self.entry(GRANT, g, reason=reason, expires_at=expires_at) for g in grant_ids])

    def entry(self, kind: RevocationKind, value: str, *, reason: str, expires_at: int) -> Revocation:
        return Revocation(kind, value, reason, int(self.now()), int(expires_at))

    @staticmethod
    def keys(jti: str, grant_id: str | None) -> list[str]:
        """The cache keys is_denied() reads for a token: its jti's and grant's entries, then the marker."""
        return [_PREFIX[JTI] + jti, *([_PREFIX[GRANT] + grant_id] if grant_id else []), LOADED]

    def sync_due(self) -> bool:
        """True when the next check copies entries from the database first (a blocking read)."""
        return time.monotonic() - self._synced_at >= self._sync_seconds

    def is_denied(self, jti: str, grant_id: str | None, *, prefetched: dict[str, str | None] | None = None) -> bool:
        """`prefetched`: these keys' values, read ahead without blocking by a caller that checked
        sync_due() first (endpoints/protocol.py); used when they cover every key and the marker is there."""
        keys = self.keys(jti, grant_id)
        if prefetched is not None and all(k in prefetched for k in keys) and prefetched[LOADED] is not None:
            return any(prefetched[k] is not None for k in keys[:-1])
        self._sync_if_stale()
        values = self._cache.get_many(keys)
        if values[-1] is None:
            # An emptied cache (or a fresh in-process one): reload before trusting its silence.
            self._reload()
            values = self._cache.get_many(keys)
        return any(v is not None for v in values[:-1])

    def warm(self) -> None:
        """At start-up: make sure the cache holds every revocation, so that checks keep working
        through a later database outage. Unreachable storage is left to the first check."""
        try:
            if self._cache.get(LOADED) is None:
                self._reload()
        except StorageUnavailable:
            logger.warning("revocations not loaded at start-up: storage unavailable")

    def use_once(self, value: str, *, expires_at: int) -> bool:
        """True the first time `value` is presented before `expires_at`; False for any replay."""
        now = int(self.now())
        if not self._cache.add(_PREFIX[ASSERTION] + value, "1", max(expires_at - now, 1)):
            return False
        entry = Revocation(ASSERTION, value, "used", now, int(expires_at))
        return self._store.add_single_use(entry, now)

    def _cache_entry(self, entry: Revocation, now: int) -> None:
        ttl = entry.expires_at - now
        if ttl > 0:
            self._cache.set(_PREFIX[entry.kind] + entry.value, entry.reason or "revoked", ttl)

    def _reload(self) -> None:
        with self._lock:
            if self._cache.get(LOADED) is not None:
                return  # another thread reloaded meanwhile
            now = int(self.now())
            entries, top = self._store.list_revocations(after_id=0, since=now, now=now)
            for entry in entries:
                self._cache_entry(entry, now)
            self._cache.set(LOADED, str(now), _LOADED_TTL)
            self._cursor, self._synced_at = top, time.monotonic()
            logger.info("revocations reloaded into the cache", extra={"entries": len(entries)})

    def _sync_if_stale(self) -> None:
        if time.monotonic() - self._synced_at < self._sync_seconds:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread of this worker is syncing
        try:
            now = int(self.now())
            entries, top = self._store.list_revocations(after_id=self._cursor, since=now - _OVERLAP, now=now)
            for entry in entries:
                self._cache_entry(entry, now)
            self._cursor, self._synced_at = top, time.monotonic()
        except StorageUnavailable:
            # The cache still answers for everything revoked through a server; CLI revocations wait
            # for the database to come back. A cache that must be reloaded fails closed instead.
            self._synced_at = time.monotonic()
        finally:
            self._lock.release()


def revoke_user_grants(
    store: RefreshTokenStore, denylist: Denylist, user_id: str, *, reason: str, access_ttl: int
) -> list[str]:
    """End every token of a user (password change, disabling, MFA reset, signing out everywhere): each
    refresh-token family, offline and device ones included, and the access tokens issued under them."""
    grants = store.revoke_user_grants(user_id, int(denylist.now()))
    denylist.deny_grants(grants, reason=reason, access_ttl=access_ttl)
    return grants
