"""Security events, named `noun.past_verb`: a structured JSON log line and a row in audit_events.

One place emits them so the fields stay consistent and secrets never enter: callers pass ids, the
client IP and user agent, never tokens, codes or passwords. emit() writes to the database, so
async code calls it through run_sync.
"""

from __future__ import annotations

import json
import time
from typing import Protocol

import structlog

from authserver.errors import StorageUnavailable

logger = structlog.get_logger("authserver.audit")
_COLUMNS = ("user_id", "client_id", "ip", "user_agent")


class AuditSink(Protocol):
    def add_audit_event(self, event: str, ts: int, user_id: str | None, client_id: str | None, ip: str | None,
                        user_agent: str | None, data: dict) -> None: ...


class Events:
    def __init__(self, sink: AuditSink | None = None) -> None:
        self.sink = sink

    def emit(self, name: str, **fields: object) -> None:
        ts = int(time.time())
        fields = {k: v for k, v in fields.items() if v is not None}
        logger.info(name, audit=True, **fields)
        if self.sink is not None:
            columns = {k: (str(fields[k]) if k in fields else None) for k in _COLUMNS}
            data = {k: v for k, v in fields.items() if k not in _COLUMNS}
            try:
                self.sink.add_audit_event(name, ts, data=json.loads(json.dumps(data, default=str)), **columns)
            except StorageUnavailable:
                # The event is in the log line above; a request whose work is stored must not fail here.
                logger.warning("audit event not stored: database unavailable", audit_event=name)
