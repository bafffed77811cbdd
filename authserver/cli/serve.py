"""authserver serve: run uvicorn (one or more workers) on the configured database and cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authserver.cli.output import CommandError

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context


def register(commands: Commands) -> None:
    parser = commands.add_parser("serve", help="run the server")
    parser.add_argument("--host", default="127.0.0.1", metavar="ADDRESS", help="the address to listen on")
    parser.add_argument(
        "--port", type=int, default=8000, metavar="PORT", help="the port to listen on (0: any free one)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes (more than 1 needs AUTHSERVER_REDIS_URL)"
    )
    parser.set_defaults(handler=run)


def run(args: Namespace, ctx: Context) -> int:
    from authserver import workers
    from authserver.app import ConfigurationError, check_settings
    from authserver.connections import ConnectionLimits
    from authserver.logs import configure_logging
    from authserver.security.crypto import DecryptionError
    from authserver.services import build_key_manager

    settings = ctx.settings
    if not 1 <= args.workers <= 64:
        raise CommandError("--workers must be between 1 and 64")
    if not 0 <= args.port <= 65535:
        raise CommandError("--port must be between 0 and 65535")
    try:
        check_settings(settings)
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from None
    if args.workers > 1 and not settings.redis_url:
        raise CommandError(
            "--workers > 1 needs AUTHSERVER_REDIS_URL: the in-process store is not shared between workers"
        )
    # (ctx.store checks that the schema is migrated.)
    # The first key is made here, once, before workers start and could race to make one each.
    manager = build_key_manager(settings, ctx.store)
    manager.ensure_key()
    try:
        manager.check_secret()
    except DecryptionError:
        raise CommandError("AUTHSERVER_SECRET_KEY does not open the stored signing keys (was it changed?)") from None
    ctx.close()
    configure_logging(settings.log_level)
    print(f"authserver: issuer {settings.issuer}", flush=True)
    print(f"authserver: discovery {settings.issuer}/.well-known/openid-configuration", flush=True)
    try:
        workers.serve(
            args.host,
            args.port,
            args.workers,
            settings.log_level,
            settings.forwarded_allow_ips,
            settings.shutdown_drain_seconds,
            ConnectionLimits(
                header_timeout=settings.header_timeout_seconds,
                max_header_bytes=settings.max_header_bytes,
                keep_alive=settings.keep_alive_seconds,
            ),
        )
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0
