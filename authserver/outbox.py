"""Making outbox messages: a kind, a destination, a summary and a sealed payload.

A feature builds its message here and hands it to the store method that records its cause, so both
are written in one transaction (the message exists if and only if its cause does). The payload is
sealed (AES-GCM, bound to the message id): it may carry single-use links, and the table is read by
more people (backups, `mail queue`) than the mailbox it is meant for. `wake()` tells this process's
sender that something is due now; other processes find it by polling.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from authserver.domain import OutboxMessage
from authserver.security.crypto import Sealer


class Outbox:
    def __init__(self, server_secret: bytes) -> None:
        self._sealer = Sealer(server_secret, "outbox")
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def message(self, kind: str, destination: str, summary: str, payload: dict[str, Any]) -> OutboxMessage:
        message_id = str(uuid.uuid4())
        # The outbox runs on the wall clock, not the app's injected one: its times are leases and retry times
        # shared by every node's delivery loop and the CLI (jobs/outbox.py, `authserver mail`).
        now = int(time.time())
        return OutboxMessage(
            id=message_id,
            kind=kind,
            destination=destination,
            summary=summary,
            payload=self._sealer.seal(json.dumps(payload).encode(), message_id),
            created_at=now,
            next_attempt_at=now,
        )

    def open(self, message: OutboxMessage) -> dict[str, Any]:
        """The payload; raises security.crypto.DecryptionError if it was sealed under another secret."""
        payload: dict[str, Any] = json.loads(self._sealer.open(message.payload, message.id))
        return payload

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from any thread) whenever a message is queued here; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    def wake(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            with contextlib.suppress(RuntimeError):  # a loop that is shutting down
                callback()
