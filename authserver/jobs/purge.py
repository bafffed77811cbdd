"""Purging expired data: what is deleted when, for `authserver purge` and the server's background loop.

Rows stay one day past their expiry (GRACE): a late replay of a used code is still recognised (and its
grant revoked), logout and "remove this app" find the grants of recently redeemed codes through their
code rows (store/sql/refresh_tokens.py), and a day leaves room for clock skew between nodes. (Before the
purger, each insert swept its table inline: an unbounded delete inside a user's request.) Audit events stay `audit_retention_days`. Pending sign-ins, used
assertion ids, revocation entries and rate-limit counters live in the cache with their own expiry and
need no purge.

Every worker of every node runs the loop; the store's lock (a PostgreSQL advisory lock) lets one of
them purge at a time and the others skip their turn.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from authserver.concurrency import run_sync
from authserver.errors import StorageUnavailable
from authserver.settings import Settings
from authserver.store import PURGEABLE, PurgeStore

logger = logging.getLogger("authserver.purge")
GRACE = 86400
FIRST_RUN_AFTER = 60.0  # seconds after start-up, so a restart storm does not purge N times at once


@dataclass(frozen=True)
class PurgeReport:
    ran: bool  # False: another process held the purger's lock
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows deleted (or, dry, to delete)
    cutoffs: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> column -> time


class Purger:
    def __init__(self, store: PurgeStore, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def cutoffs(self, now: int) -> dict[str, dict[str, int]]:
        """For each table, the time before which each expiry column means the row is gone."""
        s = self.settings
        expired = now - GRACE
        result = {kind: dict.fromkeys(columns, expired) for kind, columns in PURGEABLE.items()}
        # A session is also over when it has been idle for session_idle_ttl.
        result["browser_sessions"]["last_seen_at"] = expired - s.session_idle_ttl
        result["audit_events"]["ts"] = now - s.audit_retention_days * 86400
        return result

    def run_once(self, *, dry_run: bool = False) -> PurgeReport:
        cutoffs = self.cutoffs(int(self.clock()))
        batch = self.settings.purge_batch_size
        if dry_run:
            counts = {k: self.store.purge_expired(k, c, batch_size=batch, dry_run=True) for k, c in cutoffs.items()}
            return PurgeReport(True, True, counts, cutoffs)
        with self.store.purge_lock() as held:
            if not held:
                return PurgeReport(False, False, {}, cutoffs)
            counts = {k: self.store.purge_expired(k, c, batch_size=batch) for k, c in cutoffs.items()}
        if any(counts.values()):
            logger.info("purge.finished", extra={"deleted": counts})
        return PurgeReport(True, False, counts, cutoffs)

    async def run(self) -> None:
        """Purge every `purge_interval_seconds` (with up to 10% jitter, so nodes drift apart) forever."""
        interval = self.settings.purge_interval_seconds
        delay = min(FIRST_RUN_AFTER, interval)
        while True:
            await asyncio.sleep(delay * (1 + secrets.randbelow(1000) / 10_000))
            delay = interval
            try:
                await run_sync(self.run_once)
            except StorageUnavailable as exc:
                logger.warning("purge: database unavailable (%s); trying at the next interval", exc)
            except Exception:
                logger.exception("purge failed; trying at the next interval")
