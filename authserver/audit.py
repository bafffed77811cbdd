"""Security events, named `noun.past_verb`: a structured JSON log line and a row in audit_events.

One place emits them so the fields stay consistent and secrets never enter: callers pass ids, the
client IP and user agent, never tokens, codes or passwords. emit() writes to the database, so
async code calls it through run_sync.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

from authserver.errors import StorageUnavailable

# A standard-library logger: silent until logging is configured (the server renders it as JSON with
# the fields below), never printing to stdout from a CLI command.
logger = logging.getLogger("authserver.audit")
_COLUMNS = ("user_id", "client_id", "ip", "user_agent")
# Attribute names of logging.LogRecord that `extra` must not overwrite.
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class AuditSink(Protocol):
    def add_audit_event(
        self,
        event: str,
        ts: int,
        user_id: str | None,
        client_id: str | None,
        ip: str | None,
        user_agent: str | None,
        data: dict[str, Any],
    ) -> None: ...


class Events:
    def __init__(self, sink: AuditSink | None = None) -> None:
        self.sink = sink

    def emit(self, name: str, **fields: object) -> None:
        ts = int(time.time())  # when it happened, on the wall clock: a record, not a decision
        fields = {k: v for k, v in fields.items() if v is not None}
        if logger.isEnabledFor(logging.INFO):
            logger.info(name, extra={"audit": True, **{k: v for k, v in fields.items() if k not in _RESERVED}})
        if self.sink is not None:
            columns = {k: (str(fields[k]) if k in fields else None) for k in _COLUMNS}
            data = {k: v for k, v in fields.items() if k not in _COLUMNS}
            try:
                self.sink.add_audit_event(name, ts, data=json.loads(json.dumps(data, default=str)), **columns)
            except StorageUnavailable:
                # The event is in the log line above; a request whose work is stored must not fail here.
                logger.warning("audit event not stored: database unavailable", extra={"audit_event": name})
