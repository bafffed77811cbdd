"""authserver purge [--dry-run] [--json]: delete expired codes, tokens, sessions, device codes, account
links and audit events past their retention (the server also does it every purge_interval_seconds)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from authserver.cli.output import CommandError, add_json, emit

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context


def register(commands: Commands) -> None:
    parser = commands.add_parser("purge", help="delete expired data (codes, tokens, sessions, old audit events)")
    parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    add_json(parser)
    parser.set_defaults(handler=purge)


def purge(args: Namespace, ctx: Context) -> int:
    from authserver.jobs.purge import Purger

    report = Purger(ctx.store, ctx.settings, ctx.clock).run_once(dry_run=args.dry_run)
    if not report.ran:
        raise CommandError("another purge is running (a server's background purger or another command); try later")
    result: dict[str, Any] = {
        "dry_run": report.dry_run,
        ("would_delete" if report.dry_run else "deleted"): report.counts,
        "cutoffs": {
            table: {column: datetime.fromtimestamp(t, UTC).isoformat() for column, t in columns.items()}
            for table, columns in report.cutoffs.items()
        },
    }
    verb = "would delete" if report.dry_run else "deleted"
    lines = [f"{table:<18} {verb} {count}" for table, count in report.counts.items()]
    emit(args, result, text="\n".join(lines))
    return 0
