"""authserver keys list|rotate|prune|retire (`key` is the same group, singular like the others)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authserver.cli.output import add_json, cli_errors, emit

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context
    from authserver.oauth.keyring import KeyManager


def register(commands: Commands) -> None:
    # `keys` was the first name; `key` matches `client` and `user`. Both work.
    parser = commands.add_parser("keys", aliases=["key"], help="manage signing keys")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="list signing keys and their state")
    add_json(listing)
    listing.set_defaults(handler=list_keys)
    rotate = sub.add_parser("rotate", help="publish a new key now; it signs once every JWKS cache has it")
    add_json(rotate)
    rotate.set_defaults(handler=rotate_keys)
    prune = sub.add_parser(
        "prune", help="delete retired keys no longer published (rotate also does it); tokens they signed have expired"
    )
    add_json(prune)
    prune.set_defaults(handler=prune_keys)
    retire = sub.add_parser(
        "retire",
        help="stop publishing a key that does not sign (pending, or retired but still published): tokens it "
        "signed stop verifying at once",
    )
    retire.add_argument("kid", metavar="KID", help="the key id (see `keys list`)")
    add_json(retire)
    retire.set_defaults(handler=retire_key)


def _manager(ctx: Context) -> KeyManager:
    from authserver.services import build_key_manager

    return build_key_manager(ctx.settings, ctx.store)


def list_keys(args: Namespace, ctx: Context) -> int:
    from authserver.manage import keys

    rows = [keys.describe(s) for s in _manager(ctx).describe()]
    if not args.json and not rows:
        print("no keys yet: `authserver serve` creates the first one")
        return 0
    emit(args, rows)
    return 0


def rotate_keys(args: Namespace, ctx: Context) -> int:
    from authserver.manage import keys

    with cli_errors():
        key = keys.rotate(_manager(ctx))
    row = keys.describe_new(key)
    emit(args, row, text=f"published key {key.kid}; it starts signing at {row['activates_at']}")
    return 0


def prune_keys(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.manage import keys

    gone = keys.prune(_manager(ctx))
    if gone:
        Events(ctx.store).emit("key.pruned", kids=gone, by="admin-cli")
    emit(
        args,
        {"deleted": gone},
        text=f"deleted {len(gone)} key(s) no longer published" + "".join(f"\n{k}" for k in gone),
    )
    return 0


def retire_key(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.manage import keys

    with cli_errors():
        keys.retire(_manager(ctx), args.kid)
    Events(ctx.store).emit("key.retired", kid=args.kid, by="admin-cli")
    emit(args, {"kid": args.kid, "retired": True}, text=f"key {args.kid} is no longer published")
    return 0
