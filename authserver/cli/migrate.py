"""authserver migrate: alembic upgrade head (the only way the schema is created)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authserver.cli.output import add_json, emit

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context


def register(commands: Commands) -> None:
    parser = commands.add_parser("migrate", help="create or upgrade the database schema")
    add_json(parser)
    parser.set_defaults(handler=run)


def run(args: Namespace, ctx: Context) -> int:
    # alembic is imported only here: server workers re-import the console script and never need it.
    from authserver.store.sql import migrate as sql_migrate

    url = ctx.settings.database_url
    before, head = sql_migrate.status(url)
    if before != head:
        sql_migrate.upgrade(url)
    emit(
        args,
        {"from": before, "to": head, "changed": before != head},
        text=f"database at revision {head}" + ("" if before != head else " (already up to date)"),
    )
    return 0
