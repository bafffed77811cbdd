"""The delivery loop: every worker of every node runs one; each message is sent by one of them.

Due messages are claimed with a lease (store/sql/outbox.py: FOR UPDATE SKIP LOCKED on PostgreSQL),
handed to the handler of their kind, and marked sent, or retried with exponential back-off. An outage
or a temporary refusal is retried until the message is delivered, across restarts (the outbox is in
the database); a permanent refusal (a 5xx answer for the address) is retried `mail_max_attempts`
times, then marked failed for `authserver mail queue` to show (and `authserver mail retry` to requeue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from authserver.concurrency import run_sync
from authserver.delivery import DeliveryError
from authserver.domain import OutboxMessage
from authserver.errors import StorageUnavailable
from authserver.outbox import Outbox
from authserver.security.crypto import DecryptionError
from authserver.settings import Settings
from authserver.store import OutboxStore

logger = logging.getLogger("authserver.outbox")
Handler = Callable[[dict[str, Any]], None]
BATCH = 20


def retry_delay(attempt: int, first: int, longest: int) -> int:
    """Seconds before attempt number `attempt + 1`: first, 2*first, 4*first, ... at most `longest`,
    with up to 10% jitter so messages that failed together do not all return together."""
    delay = min(first * (1 << max(0, attempt - 1)), longest)
    return delay + secrets.randbelow(max(1, delay // 10) + 1)


class OutboxRunner:
    def __init__(self, store: OutboxStore, outbox: Outbox, handlers: Mapping[str, Handler], settings: Settings) -> None:
        self.store = store
        self.outbox = outbox
        self.handlers = dict(handlers)
        self.settings = settings
        # Long enough for a slow SMTP conversation; a sender that died frees its messages after it.
        self.lease_seconds = int(settings.smtp_timeout * 4) + 30

    def deliver_due(self) -> int:
        """Send what is due now (blocking); returns how many messages were delivered."""
        delivered = 0
        while True:
            owner = secrets.token_hex(16)
            # Wall clock: leases shared between nodes, as when the message was queued (outbox.py).
            batch = self.store.claim_outbox(owner, int(time.time()), self.lease_seconds, BATCH)
            for message in batch:
                delivered += self._deliver(message, owner)
            if len(batch) < BATCH:
                return delivered

    def _deliver(self, message: OutboxMessage, owner: str) -> int:
        handler = self.handlers.get(message.kind)
        try:
            if handler is None:
                raise DeliveryError(f"no sender for messages of kind {message.kind!r}", permanent=True)
            try:
                payload = self.outbox.open(message)
            except DecryptionError:
                raise DeliveryError("cannot open the message: AUTHSERVER_SECRET_KEY changed", permanent=True) from None
            handler(payload)
        except DeliveryError as exc:
            self._failed(message, owner, str(exc), permanent=exc.permanent, final=exc.final)
            return 0
        except Exception as exc:  # a bug in a handler must not drop the message: retry it later
            logger.exception("outbox message %s (%s) failed unexpectedly", message.id, message.kind)
            self._failed(message, owner, f"{type(exc).__name__}: {exc}", permanent=False)
            return 0
        self.store.outbox_sent(message.id, owner, int(time.time()))
        logger.info("outbox message sent", extra={"outbox_id": message.id, "kind": message.kind})
        return 1

    def _failed(self, message: OutboxMessage, owner: str, error: str, *, permanent: bool, final: bool = False) -> None:
        attempt = message.attempts + 1
        give_up = final or (permanent and attempt >= self.settings.mail_max_attempts)
        delay = retry_delay(attempt, self.settings.mail_retry_seconds, self.settings.mail_max_retry_seconds)
        self.store.outbox_retry(message.id, owner, error, None if give_up else int(time.time()) + delay)
        logger.warning(
            "outbox message %s",
            "failed for good" if give_up else f"not delivered; retry in {delay} s",
            extra={"outbox_id": message.id, "kind": message.kind, "attempt": attempt, "error": error},
        )

    async def run(self) -> None:
        """Deliver forever: whenever this process queues a message, and every `mail_poll_seconds`."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def wake_up() -> None:  # called from the thread that queued a message
            loop.call_soon_threadsafe(wake.set)

        unsubscribe = self.outbox.listen(wake_up)
        try:
            while True:
                wake.clear()
                try:
                    await run_sync(self.deliver_due)
                except StorageUnavailable as exc:
                    logger.warning("outbox: database unavailable (%s); trying again", exc)
                except Exception:
                    logger.exception("outbox: delivery round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self.settings.mail_poll_seconds)
        finally:
            unsubscribe()
