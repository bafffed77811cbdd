"""authserver user create|list|show|set-password|disable|enable|sign-out|reset-mfa|export|delete.

The rules live in manage/users.py (shared with the admin API); this module reads options and prints."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from authserver.cli.output import CommandError, add_json, cli_errors, emit

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context
    from authserver.domain import User

BY = "admin-cli"


def register(commands: Commands) -> None:
    parser = commands.add_parser("user", help="manage users")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a user; the password is read from standard input")
    create.add_argument("--username", required=True, metavar="USERNAME", help="1-150 letters, digits, '.', '_', '-'")
    create.add_argument("--email", required=True, metavar="ADDRESS", help="the user's email address")
    create.add_argument("--name", default="", metavar="NAME", help="the display name (default: empty)")
    create.add_argument("--email-verified", action="store_true", help="mark the address as verified already")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input (never from the command line)",
    )
    add_json(create)
    create.set_defaults(handler=create_user)
    for name, handler, helptext in (
        ("show", show_user, "show a user (by id, username or email)"),
        ("disable", disable_user, "disable a user: no more sign-ins, every token ended"),
        ("enable", enable_user, "enable a disabled user"),
        (
            "sign-out",
            sign_out_user,
            "end every browser session of a user; apps with a back-channel logout URI are told",
        ),
        ("reset-mfa", reset_mfa, "remove a user's second factors and passkeys (they sign in with the password)"),
        (
            "set-password",
            set_password,
            "set a user's password, read from standard input (one line); voids their reset links",
        ),
        (
            "delete",
            delete_user,
            "delete a user and everything attached (GDPR Art. 17); the audit trail keeps a pseudonym",
        ),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("user", metavar="USER", help="the user's id, username or email")
        add_json(cmd)
        cmd.set_defaults(handler=handler)
    export = sub.add_parser("export", help="everything held about a user, as JSON (GDPR Art. 15/20; audited)")
    export.add_argument("user", metavar="USER", help="the user's id, username or email")
    export.set_defaults(handler=export_user)
    listing = sub.add_parser("list", help="list users, oldest first, a page at a time")
    listing.add_argument("--limit", type=int, default=1000, metavar="N", help="users per page")
    listing.add_argument("--after", metavar="ID", help="the next page: users created after this user id")
    listing.add_argument(
        "--search", metavar="TEXT", help="only users whose username, email or name contains TEXT (any case)"
    )
    add_json(listing)
    listing.set_defaults(handler=list_users)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("no password on standard input")
    return password


def create_user(args: Namespace, ctx: Context) -> int:
    from authserver.manage import users

    with cli_errors(users.CLI_OPTIONS):
        users.check_fields(args.username, args.email, args.name)
        password = _read_password()
        user = users.create(
            ctx.store,
            ctx.passwords,
            now=int(ctx.clock()),
            username=args.username,
            email=args.email,
            name=args.name,
            password=password,
            email_verified=args.email_verified,
        )
    emit(args, users.describe(user), text=f"created user {user.username} ({user.id})")
    return 0


def _find(ctx: Context, ref: str) -> User:
    from authserver.manage import users

    with cli_errors(users.CLI_OPTIONS):
        return users.find(ctx.store, ref)


def show_user(args: Namespace, ctx: Context) -> int:
    from authserver.manage import users

    emit(args, users.describe(_find(ctx, args.user)))
    return 0


def list_users(args: Namespace, ctx: Context) -> int:
    from authserver.manage import users

    if not 1 <= args.limit <= 100_000:
        raise CommandError("--limit must be between 1 and 100000")
    if args.after is not None and ctx.store.get_user(args.after) is None:
        raise CommandError(f"--after: no user with id {args.after!r}")
    found = ctx.store.list_users(limit=args.limit, after=args.after, search=args.search or None)
    rows = [users.describe(u) for u in found]
    if not args.json and not rows:
        print("no users")
        return 0
    emit(args, rows)
    return 0


def end_user_tokens(ctx: Context, user_id: str, reason: str) -> int:
    """Revoke every refresh-token family of the user and deny the access tokens issued under them."""
    from authserver.audit import Events
    from authserver.manage import users

    access_ttl = ctx.settings.access_token_ttl
    return users.end_tokens(
        ctx.store, ctx.denylist, Events(ctx.store), user_id, reason=reason, access_ttl=access_ttl, by=BY
    )


def _set_disabled(args: Namespace, ctx: Context, disabled: bool) -> int:
    from authserver.manage import users

    user = _find(ctx, args.user)
    with cli_errors(users.CLI_OPTIONS):
        revoked = users.set_disabled(
            ctx.store, user, disabled, end=lambda user_id, reason: end_user_tokens(ctx, user_id, reason)
        )
    data: dict[str, object] = {"id": user.id, "username": user.username, "disabled": disabled}
    if disabled:
        # Disabling ends every token now; enabling later restores none of them.
        data["grants_revoked"] = revoked
    state = "disabled" if disabled else "enabled"
    emit(args, data, text=f"{state} {user.username}")
    return 0


def disable_user(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, True)


def enable_user(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, False)


def set_password(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.manage import users

    user = _find(ctx, args.user)
    password = _read_password()
    with cli_errors(users.CLI_OPTIONS):
        users.set_password(ctx.store, ctx.passwords, user, password)
    Events(ctx.store).emit("password.changed", user_id=user.id, by=BY)
    emit(
        args,
        {"id": user.id, "username": user.username, "password_set": True},
        text=f"set the password of {user.username}",
    )
    return 0


def sign_out_user(args: Namespace, ctx: Context) -> int:
    """An administrator's session revocation: the same ending as the user's own sign-out (session-bound
    tokens revoked, back-channel logout notices queued for the running servers to deliver)."""
    from authserver.interaction.sessions import end_session_sync
    from authserver.services import build_services

    user = _find(ctx, args.user)
    svc = build_services(ctx.settings)
    try:
        sessions = svc.store.list_user_sessions(user.id)
        for session in sessions:
            end_session_sync(svc, session, reason="revoked_by_admin")
        svc.events.emit("session.revoked", user_id=user.id, count=len(sessions), by=BY)
    finally:
        svc.close()
    emit(
        args,
        {"id": user.id, "username": user.username, "sessions_ended": len(sessions)},
        text=f"signed {user.username} out of {len(sessions)} session(s)",
    )
    return 0


def reset_mfa(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.manage import users

    user = _find(ctx, args.user)
    result = users.reset_mfa(
        ctx.store,
        user,
        end=lambda user_id, reason: end_user_tokens(ctx, user_id, reason),
        events=Events(ctx.store),
        by=BY,
    )
    removed, passkeys = result["mfa_removed"], result["passkeys_removed"]
    text = f"second factors of {user.username} " + ("removed" if removed or passkeys else "were not set up")
    emit(
        args,
        {"id": user.id, "username": user.username, **result},
        text=text + (f" ({passkeys} passkey{'s' if passkeys != 1 else ''})" if passkeys else ""),
    )
    return 0


def export_user(args: Namespace, ctx: Context) -> int:
    import json

    from authserver.audit import Events
    from authserver.manage.account_data import export_account

    user = _find(ctx, args.user)

    def client_name(client_id: str) -> str | None:
        client = ctx.store.get_client(client_id)
        return client.name if client else None

    data = export_account(ctx.store, client_name, user, now=int(ctx.clock()))
    Events(ctx.store).emit("account.exported", user_id=user.id, by=BY)
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def delete_user(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.manage.deletion import delete_account
    from authserver.services import build_mailer

    user = _find(ctx, args.user)
    settings = ctx.settings

    def deny(grants: list[str]) -> None:
        ctx.denylist.deny_grants(grants, reason="account_deleted", access_ttl=settings.access_token_ttl)

    farewell = build_mailer(settings).compose(
        "account_deleted", user.email, name=user.name or user.username, username=user.username
    )
    done = delete_account(
        ctx.store,
        user,
        server_secret=settings.secret_bytes(),
        deny_grants=deny,
        farewell=[farewell],
        now=int(ctx.clock()),
    )
    if done is None:
        raise CommandError(f"no user {args.user!r}")
    Events(ctx.store).emit(
        "user.deleted",
        user_id=done.pseudonym,
        by=BY,
        sessions_ended=done.sessions_ended,
        grants_revoked=done.grants_revoked,
    )
    emit(
        args,
        {"deleted": user.username, "pseudonym": done.pseudonym, "grants_revoked": done.grants_revoked},
        text=f"deleted {user.username}; its audit events now name {done.pseudonym}",
    )
    return 0
