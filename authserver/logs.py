"""Logging set-up: one line per record, to stderr. Secrets never reach a logger (see audit.py)."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if getattr(configure_logging, "_done", False):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # authlib logs client ids and, in some grants, issued tokens at debug: keep it quiet.
    logging.getLogger("authlib").setLevel(logging.WARNING)
    configure_logging._done = True  # type: ignore[attr-defined]
