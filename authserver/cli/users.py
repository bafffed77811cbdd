"""authserver user create|list|show|disable|enable."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from authserver.cli.output import CommandError, emit
from authserver.domain import User
from authserver.manage import users as rules
from authserver.store import DuplicateError, Removal

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context


def register(commands: Commands) -> None:
    parser = commands.add_parser("user", help="manage users")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a user; the password is read from standard input")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--email-verified", action="store_true")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input (never from the command line)",
    )
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=create_user)
    for name, handler, helptext in (
        ("show", show_user, "show a user (by id, username or email)"),
        ("disable", disable_user, "disable a user: no more sign-ins"),
        ("enable", enable_user, "enable a disabled user"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("user")
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(handler=handler)
    sign_out = sub.add_parser(
        "sign-out",
        help="end every browser session of a user; apps with a back-channel logout URI are told",
    )
    sign_out.add_argument("user")
    sign_out.add_argument("--json", action="store_true")
    sign_out.set_defaults(handler=sign_out_user)
    reset = sub.add_parser(
        "reset-mfa", help="remove a user's second factors and passkeys (they sign in with the password)"
    )
    reset.add_argument("user")
    reset.add_argument("--json", action="store_true")
    reset.set_defaults(handler=reset_mfa)
    export = sub.add_parser("export", help="everything held about a user, as JSON (GDPR Art. 15/20; audited)")
    export.add_argument("user")
    export.set_defaults(handler=export_user)
    delete = sub.add_parser(
        "delete", help="delete a user and everything attached (GDPR Art. 17); the audit trail keeps a pseudonym"
    )
    delete.add_argument("user")
    delete.add_argument("--json", action="store_true")
    delete.set_defaults(handler=delete_user)
    listing = sub.add_parser("list", help="list users, oldest first, a page at a time")
    listing.add_argument("--limit", type=int, default=1000, help="users per page (default 1000)")
    listing.add_argument("--after", metavar="ID", help="the next page: users created after this user id")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_users)


def describe(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "email_verified": user.email_verified,
        "disabled": user.disabled,
        "created_at": user.created_at,
    }


def create_user(args: Namespace, ctx: Context) -> int:
    if rules.username_problem(args.username):
        raise CommandError("--username must be " + (rules.username_problem(args.username) or ""))
    if rules.email_problem(args.email):
        raise CommandError("--email must be an email address")
    if len(args.name) > rules.MAX_NAME:
        raise CommandError(f"--name must be at most {rules.MAX_NAME} characters")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("no password on standard input")
    problem = rules.password_problem(password, username=args.username, email=args.email)
    if problem:
        raise CommandError(problem)
    user = rules.new_user(args.username, args.email, args.name, password, email_verified=args.email_verified)
    try:
        ctx.store.add_user(user)
    except DuplicateError as exc:
        raise CommandError(str(exc)) from None
    emit(args, describe(user), text=f"created user {user.username} ({user.id})")
    return 0


def _find(ctx: Context, ref: str) -> User:
    user = ctx.store.get_user(ref) or ctx.store.find_user(ref)
    if user is None:
        raise CommandError(f"no user {ref!r}")
    return user


def show_user(args: Namespace, ctx: Context) -> int:
    emit(args, describe(_find(ctx, args.user)))
    return 0


def list_users(args: Namespace, ctx: Context) -> int:
    if not 1 <= args.limit <= 100_000:
        raise CommandError("--limit must be between 1 and 100000")
    if args.after is not None and ctx.store.get_user(args.after) is None:
        raise CommandError(f"--after: no user with id {args.after!r}")
    rows = [describe(u) for u in ctx.store.list_users(limit=args.limit, after=args.after)]
    if not args.json and not rows:
        print("no users")
        return 0
    emit(args, rows)
    return 0


def end_user_tokens(ctx: Context, user_id: str, reason: str) -> int:
    """Revoke every refresh-token family of the user and deny the access tokens issued under them."""
    from authserver.audit import Events
    from authserver.revocations import revoke_user_grants

    grants = revoke_user_grants(
        ctx.store, ctx.denylist, user_id, reason=reason, access_ttl=ctx.settings.access_token_ttl
    )
    events = Events(ctx.store)
    for grant_id in grants:
        events.emit("grant.revoked", grant_id=grant_id, user_id=user_id, reason=reason, by="admin-cli")
    return len(grants)


def _set_disabled(args: Namespace, ctx: Context, disabled: bool) -> int:
    user = _find(ctx, args.user)
    ctx.store.set_user_disabled(user.id, disabled)
    data: dict[str, object] = {"id": user.id, "username": user.username, "disabled": disabled}
    if disabled:
        # Disabling ends every token now; enabling later restores none of them.
        data["grants_revoked"] = end_user_tokens(ctx, user.id, "user_disabled")
    state = "disabled" if disabled else "enabled"
    emit(args, data, text=f"{state} {user.username}")
    return 0


def disable_user(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, True)


def enable_user(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, False)


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
        svc.events.emit("session.revoked", user_id=user.id, count=len(sessions), by="admin-cli")
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

    user = _find(ctx, args.user)
    removed = ctx.store.delete_totp(user.id) is Removal.REMOVED
    passkeys = ctx.store.delete_passkeys(user.id)
    # A reset is for a lost or stolen factor: whatever signed in with it loses its tokens.
    revoked = end_user_tokens(ctx, user.id, "mfa_reset")
    # An administrator weakening an account is exactly what the audit trail is for.
    events = Events(ctx.store)
    events.emit(
        "mfa.reset",
        user_id=user.id,
        by="admin-cli",
        had_factor=removed,
        passkeys_removed=passkeys,
        grants_revoked=revoked,
    )
    if passkeys:
        events.emit("passkey.removed", user_id=user.id, by="admin-cli", count=passkeys)
    text = f"second factors of {user.username} " + ("removed" if removed or passkeys else "were not set up")
    emit(
        args,
        {
            "id": user.id,
            "username": user.username,
            "mfa_removed": removed,
            "passkeys_removed": passkeys,
            "grants_revoked": revoked,
        },
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

    data = export_account(ctx.store, client_name, user)
    Events(ctx.store).emit("account.exported", user_id=user.id, by="admin-cli")
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
    done = delete_account(ctx.store, user, server_secret=settings.secret_bytes(), deny_grants=deny, farewell=[farewell])
    if done is None:
        raise CommandError(f"no user {args.user!r}")
    Events(ctx.store).emit(
        "user.deleted",
        user_id=done.pseudonym,
        by="admin-cli",
        sessions_ended=done.sessions_ended,
        grants_revoked=done.grants_revoked,
    )
    emit(
        args,
        {"deleted": user.username, "pseudonym": done.pseudonym, "grants_revoked": done.grants_revoked},
        text=f"deleted {user.username}; its audit events now name {done.pseudonym}",
    )
    return 0
