"""Logging: one JSON object per line on stderr (structlog over the standard library), with the
request id and, where known, client and user ids bound per request. Secrets never reach a logger:
callers log ids, and the access log records route paths without query strings."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor


def _drop_terminal_colours(_logger: Any, _name: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return event


_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    # Fields passed as `extra=` to standard-library loggers (audit events, the access log).
    structlog.stdlib.ExtraAdder(),
    _drop_terminal_colours,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str) -> None:
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_authserver", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    # Marks our handler so a second configure_logging() replaces it instead of adding another.
    handler._authserver = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # authlib logs client ids and, in some grants, issued tokens at debug: keep it quiet.
    logging.getLogger("authlib").setLevel(logging.WARNING)
    # uvicorn's own access log prints full URLs (query strings can carry codes); ours does not.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def start_request(request_id: str) -> None:
    """Forget the previous request's fields; every log line of this one carries its id."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def request_id() -> str | None:
    """The id of the request being handled (for an error page to show), if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def bind(**fields: str) -> None:
    """Add ids (client_id, user_id: never secrets) to every later log line of this request."""
    structlog.contextvars.bind_contextvars(**fields)
