"""CLI output: readable text by default, one JSON document with --json."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from argparse import Namespace
from collections.abc import Iterator, Mapping, Sequence
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


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, when it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and "%(default)" not in text
            and "default" not in text
            and default not in (None, False, True, [], argparse.SUPPRESS)
        ):
            text += " (default: %(default)s)"
        return text


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")


@contextlib.contextmanager
def cli_errors(options: Mapping[str, str] | None = None) -> Iterator[None]:
    """A refused management operation as a one-line CLI error naming the option (`options`: field ->
    option)."""
    from authserver.manage.errors import ManageError

    try:
        yield
    except ManageError as exc:
        raise CommandError(exc.render(options or {})) from None
