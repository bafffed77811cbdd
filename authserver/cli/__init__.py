"""The `authserver` console script. Every command reads the same AUTHSERVER_* environment.

Failures print one line to stderr and exit non-zero; no traceback reaches the user. Building the parser
imports nothing of the server (no Starlette, SQLAlchemy, pydantic or authlib): `authserver --help` and
usage errors answer at once; each command imports what it runs.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from authserver import __version__
from authserver.cli import audit, clients, keys, mail, migrate, purge, serve, upstreams, users
from authserver.cli.context import Context
from authserver.cli.output import CommandError, HelpFormatter
from authserver.clock import Clock, system_clock


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, built once per process (it holds no state of a run: each
    parse_args returns a new namespace): its ~40 sub-parsers and their help texts cost ~40 ms a run."""
    # allow_abbrev=False: `--password X` must not be taken for --password-stdin and echoed back.
    parser = _Parser(prog="authserver", description="OAuth 2.0 / OpenID Connect identity provider", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"authserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for module in (serve, migrate, clients, users, upstreams, keys, audit, mail, purge):
        module.register(commands)
    return parser


def _message(exc: Exception) -> str:
    from authserver.errors import StorageUnavailable
    from authserver.settings import InvalidSettings, MissingSecret, explain

    if isinstance(exc, CommandError | MissingSecret):
        return str(exc)
    if isinstance(exc, InvalidSettings):
        return explain(exc)
    if isinstance(exc, StorageUnavailable):
        return f"{exc}: check AUTHSERVER_DATABASE_URL / AUTHSERVER_REDIS_URL"
    # The last guard: a one-line message, never a traceback.
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"unexpected {type(exc).__name__}: {first_line}"


def main(argv: Sequence[str] | None = None, *, clock: Clock = system_clock) -> int:
    """`clock`: what the command's creation times and expiry decisions read (tests pass the app's)."""
    args = build_parser().parse_args(argv)
    ctx = Context(clock)
    try:
        return int(args.handler(args, ctx) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = _message(exc)
    finally:
        ctx.close()
    print(f"authserver: error: {message}", file=sys.stderr)
    return 1
