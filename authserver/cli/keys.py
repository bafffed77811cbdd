"""authserver keys list|rotate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from authserver.cli.output import CommandError, emit
from authserver.oauth.keyring import KeyState
from authserver.security.crypto import DecryptionError
from authserver.services import build_key_manager

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context


def register(commands: Commands) -> None:
    parser = commands.add_parser("keys", help="manage signing keys")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="list signing keys and their state")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_keys)
    rotate = sub.add_parser("rotate", help="publish a new key now; it signs once every JWKS cache has it")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(handler=rotate_keys)


def _iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def describe(state: KeyState) -> dict[str, Any]:
    return {
        "kid": state.key.kid,
        "alg": state.key.alg,
        "state": state.state,
        "created_at": _iso(state.key.created_at),
        "activates_at": _iso(state.key.activates_at),
        "retired_at": _iso(state.retired_at),
        "published_until": _iso(state.published_until),
    }


def list_keys(args: Namespace, ctx: Context) -> int:
    manager = build_key_manager(ctx.settings, ctx.store)
    rows = [describe(s) for s in manager.describe()]
    if not args.json and not rows:
        print("no keys yet: `authserver serve` creates the first one")
        return 0
    emit(args, rows)
    return 0


def rotate_keys(args: Namespace, ctx: Context) -> int:
    manager = build_key_manager(ctx.settings, ctx.store)
    try:
        manager.ensure_key()
        key = manager.rotate()
    except DecryptionError:
        raise CommandError(
            "AUTHSERVER_SECRET_KEY does not open the stored signing keys: refusing to add a key sealed under "
            "another secret"
        ) from None
    row = {"kid": key.kid, "alg": key.alg, "published_at": _iso(key.created_at), "activates_at": _iso(key.activates_at)}
    emit(args, row, text=f"published key {key.kid}; it starts signing at {row['activates_at']}")
    return 0
