"""Security events, named `noun.past_verb`, written as structured log lines.

One place emits them so the fields stay consistent and secrets never enter: callers pass ids,
never tokens, codes or passwords.
"""

from __future__ import annotations

import json
import logging
import time

logger = logging.getLogger("authserver.audit")


class Events:
    def emit(self, name: str, **fields: object) -> None:
        if logger.isEnabledFor(logging.INFO):
            record = {"event": name, "ts": int(time.time()), **fields}
            logger.info(json.dumps(record, separators=(",", ":"), default=str))
