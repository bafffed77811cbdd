"""authserver upstream add|list|show|delete: the identity providers users may sign in with."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from authserver.cli.output import CommandError, emit
from authserver.domain import AUTH_METHODS_WITH_SECRET, Upstream
from authserver.upstream.presets import PRESETS

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context


def register(commands: Commands) -> None:
    parser = commands.add_parser("upstream", help="manage upstream identity providers (Continue with ...)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="add an OpenID Connect (from discovery) or OAuth 2.0 identity provider")
    add.add_argument("--name", required=True, help="a short name: lower-case letters, digits and '-'")
    add.add_argument("--preset", choices=sorted(PRESETS), help="fill in a well-known provider")
    add.add_argument("--tenant", help="the directory (tenant) id, for --preset microsoft")
    add.add_argument("--display-name", help='what the button says after "Continue with" (default: the preset or name)')
    add.add_argument("--issuer", help="an OpenID Connect provider's issuer: its discovery document is read from it")
    add.add_argument("--client-id", required=True, help="our client_id at the provider")
    add.add_argument(
        "--client-secret-stdin", action="store_true", required=True, help="read our client secret from stdin"
    )
    add.add_argument("--scope", help='scopes to ask for, space-separated (OpenID Connect: "openid email profile")')
    add.add_argument("--authorization-endpoint", help="plain OAuth 2.0: the provider's authorization endpoint")
    add.add_argument("--token-endpoint", help="plain OAuth 2.0: its token endpoint")
    add.add_argument("--userinfo-endpoint", help="plain OAuth 2.0: where the access token reads the user's profile")
    add.add_argument(
        "--emails-endpoint", help="plain OAuth 2.0: a GitHub-style list of addresses with their verification"
    )
    add.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="CLAIM=FIELD",
        help="plain OAuth 2.0: which field of the user-info answer is sub, email, email_verified, name or "
        "preferred_username (repeatable; sub defaults to sub)",
    )
    add.add_argument(
        "--token-endpoint-auth-method",
        choices=AUTH_METHODS_WITH_SECRET,
        help="how we authenticate at its token endpoint (default: what discovery offers, basic first)",
    )
    add.add_argument(
        "--link-by-email",
        action="store_true",
        help="a first sign-in joins the local account with the same address, when the provider says it verified it",
    )
    add.add_argument("--no-signup", action="store_true", help="a first sign-in never creates an account")
    add.add_argument(
        "--trust-mfa",
        action="store_true",
        help="its sign-ins count as two-step when it says so (amr mfa, or an --mfa-acr value)",
    )
    add.add_argument(
        "--mfa-acr", action="append", default=[], metavar="ACR", help="an acr of its that means two factors"
    )
    add.add_argument("--json", action="store_true", help="print JSON")
    add.set_defaults(handler=add_upstream)

    for name, handler, helptext in (
        ("show", show_upstream, "show one upstream"),
        ("delete", delete_upstream, "remove an upstream and unlink every account from it"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("name", help="the upstream's name")
        cmd.add_argument("--json", action="store_true", help="print JSON")
        cmd.set_defaults(handler=handler)
    listing = sub.add_parser("list", help="list upstreams")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_upstreams)


def _claims(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours or not theirs:
            raise CommandError(f"--claim must be CLAIM=FIELD: {pair!r}")
        mapping[ours] = theirs
    return mapping


def add_upstream(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.services import egress_policy
    from authserver.store import DuplicateError
    from authserver.upstream import registry

    secret = sys.stdin.readline().rstrip("\r\n")
    spec = registry.NewUpstream(
        name=args.name,
        client_id=args.client_id,
        client_secret=secret,
        preset=args.preset,
        tenant=args.tenant,
        display_name=args.display_name,
        issuer=args.issuer,
        scopes=tuple(args.scope.split()) if args.scope else None,
        authorization_endpoint=args.authorization_endpoint,
        token_endpoint=args.token_endpoint,
        userinfo_endpoint=args.userinfo_endpoint,
        emails_endpoint=args.emails_endpoint,
        token_endpoint_auth_method=args.token_endpoint_auth_method,
        claim_map=_claims(args.claim),
        signup=not args.no_signup,
        link_by_email=args.link_by_email,
        trust_mfa=args.trust_mfa,
        mfa_acr_values=tuple(args.mfa_acr),
    )
    settings = ctx.settings
    try:
        upstream = registry.build(
            spec,
            secret_key=settings.secret_bytes(),
            policy=egress_policy(settings),
            timeout=settings.upstream_timeout,
            now=int(ctx.clock()),
        )
    except registry.UpstreamConfigError as exc:
        raise CommandError(str(exc)) from None
    try:
        ctx.store.add_upstream(upstream)
    except DuplicateError as exc:
        raise CommandError(str(exc)) from None
    Events(ctx.store).emit("upstream.added", upstream=upstream.name, by="admin-cli")
    row = registry.describe(upstream, registry.redirect_uri(settings.issuer, upstream.name))
    emit(
        args,
        row,
        text=f"added upstream {upstream.name} ({upstream.kind}); register this redirect URI with it: {row['redirect_uri']}",
    )
    return 0


def _get(ctx: Context, name: str) -> Upstream:
    upstream = ctx.store.get_upstream(name)
    if upstream is None:
        raise CommandError(f"no upstream named {name!r}")
    return upstream


def show_upstream(args: Namespace, ctx: Context) -> int:
    from authserver.upstream import registry

    upstream = _get(ctx, args.name)
    emit(args, registry.describe(upstream, registry.redirect_uri(ctx.settings.issuer, upstream.name)))
    return 0


def list_upstreams(args: Namespace, ctx: Context) -> int:
    from authserver.upstream import registry

    rows = [
        registry.describe(u, registry.redirect_uri(ctx.settings.issuer, u.name)) for u in ctx.store.list_upstreams()
    ]
    if not args.json and not rows:
        print("no upstreams")
        return 0
    emit(args, rows)
    return 0


def delete_upstream(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events

    upstream = _get(ctx, args.name)
    ctx.store.delete_upstream(upstream.name)
    Events(ctx.store).emit("upstream.deleted", upstream=upstream.name, by="admin-cli")
    emit(args, {"name": upstream.name, "deleted": True}, text=f"deleted upstream {upstream.name}")
    return 0
