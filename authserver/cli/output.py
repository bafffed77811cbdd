"""CLI output: readable text by default, one JSON document with --json."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from collections.abc import Mapping, Sequence
from typing import Any


class CommandError(Exception):
    """A one-line failure message; the CLI exits 1 with it."""


def emit(args: Namespace, data: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, text: str | None = None) -> None:
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
        return
    if text is not None:
        print(text)
        return
    rows = [data] if isinstance(data, Mapping) else list(data)
    for i, row in enumerate(rows):
        if i:
            print()
        width = max((len(k) for k in row), default=0)
        for key, value in row.items():
            if isinstance(value, (list, tuple)):
                value = " ".join(str(v) for v in value) or "-"
            elif value is None or value == "":
                value = "-"
            print(f"{key.ljust(width)}  {value}")
