"""A short-lived per-worker cache of client records in front of the ClientStore.

Client lookups sit on every token request; a few seconds of memory spares the database most of
them. It holds no state that matters: a deleted or disabled client is refused everywhere within
`client_cache_seconds` (0 turns the cache off). Unknown client_ids are remembered as unknown for as
long, in a table of their own: a caller repeating a made-up id costs one lookup per period, and a
flood of made-up ids cannot push the real clients out. (A flood of *different* ids is bounded by the
per-address rate limits, which are charged before any lookup.)
"""

from __future__ import annotations

import time

from authserver.domain import Client
from authserver.store import ClientStore

_MAX_ENTRIES = 10_000


class ClientCache:
    def __init__(self, store: ClientStore, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._entries: dict[str, tuple[Client, float]] = {}
        self._unknown: dict[str, float] = {}

    # Entries live `ttl` seconds measured in-process (time.monotonic): a bound on how stale a copy of a
    # database row may be, not an expiry of anything the client holds.
    def fresh(self, client_id: str | None) -> bool:
        """True when get(client_id) will answer from memory (no database round trip)."""
        if not client_id or self._ttl <= 0:
            return False
        hit = self._entries.get(client_id)
        return hit is not None and hit[1] > time.monotonic()

    def get(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 200 or "\x00" in client_id:
            return None  # no registered client has such an id (and PostgreSQL refuses NUL in text)
        if self._ttl <= 0:
            return self._store.get_client(client_id)
        now = time.monotonic()
        hit = self._entries.get(client_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        if self._unknown.get(client_id, 0.0) > now:
            return None
        client = self._store.get_client(client_id)
        if client is None:
            self._entries.pop(client_id, None)
            if len(self._unknown) >= _MAX_ENTRIES:
                self._unknown.clear()
            self._unknown[client_id] = now + self._ttl
            return None
        self._unknown.pop(client_id, None)
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[client_id] = (client, now + self._ttl)
        return client
