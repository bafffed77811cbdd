"""authserver migrate: alembic upgrade head (the only way the schema is created)."""

from __future__ import annotations

from authserver.cli.output import emit


def register(commands) -> None:  # type: ignore[no-untyped-def]
    parser = commands.add_parser("migrate", help="create or upgrade the database schema")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args, ctx) -> int:  # type: ignore[no-untyped-def]
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
