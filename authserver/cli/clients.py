"""authserver client create|list|show|update|rotate-secret|disable|enable|delete|registration-token.

The rules live in manage/clients.py (shared with the admin API and dynamic registration); this module
turns options into a ClientSpec and prints the result.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from authserver.cli.output import CommandError, add_json, cli_errors, emit
from authserver.domain import AUTH_METHODS, GRANT_TYPES

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context
    from authserver.manage.clients import ClientSpec


# The RFC 7591 metadata for people that `client update` changes, with their help text.
PRESENTATION_FLAGS = {
    "--logo-uri": "the logo on the consent and device pages: an https URL or a /static/ path",
    "--client-uri": "the client's home page",
    "--policy-uri": "the client's privacy policy",
    "--tos-uri": "the client's terms of service",
}


def register(commands: Commands) -> None:
    parser = commands.add_parser("client", help="manage OAuth clients")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="register a client; prints its secret once")
    create.add_argument("--name", required=True, metavar="NAME", help="the name people see (1-200 characters)")
    create.add_argument(
        "--grant-type",
        action="append",
        default=[],
        choices=GRANT_TYPES,
        dest="grant_types",
        metavar="GRANT_TYPE",
        help="a grant the client may use, repeatable: " + ", ".join(GRANT_TYPES) + " (default: authorization_code "
        "for public clients and clients with --redirect-uri, else client_credentials)",
    )
    create.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        dest="redirect_uris",
        metavar="URI",
        help="where authorization responses go, repeatable; matched exactly (default: none)",
    )
    create.add_argument(
        "--post-logout-redirect-uri",
        action="append",
        default=[],
        dest="post_logout_uris",
        metavar="URI",
        help="where /logout may send the browser afterwards, repeatable (default: none)",
    )
    create.add_argument(
        "--scope",
        default=None,
        metavar="SCOPES",
        help='allowed scopes, space-separated: "a b" (default: sign-in clients "openid profile email", plus '
        "offline_access with refresh_token; others none)",
    )
    create.add_argument(
        "--resource",
        action="append",
        default=[],
        dest="resources",
        metavar="URI",
        help="an RFC 8707 resource (token audience) the client may request, repeatable (default: none)",
    )
    create.add_argument("--public", action="store_true", help="a public client (no secret)")
    create.add_argument(
        "--token-endpoint-auth-method",
        choices=AUTH_METHODS,
        dest="auth_method",
        metavar="METHOD",
        help="how the client authenticates: " + ", ".join(AUTH_METHODS) + " (default: client_secret_basic; "
        "none with --public)",
    )
    create.add_argument(
        "--jwks-file",
        metavar="FILE",
        help="JWK Set with the client's public keys (private_key_jwt, signed request objects) (default: none)",
    )
    create.add_argument("--first-party", action="store_true", help="trusted app: no consent screen")
    create.add_argument(
        "--require-mfa",
        action="store_true",
        help="every sign-in for this client needs a second factor (acr urn:authserver:loa:2)",
    )
    create.add_argument(
        "--require-par",
        action="store_true",
        help="accept authorization requests only through the pushed authorization request endpoint (RFC 9126)",
    )
    create.add_argument(
        "--require-signed-request-object",
        action="store_true",
        help="accept authorization requests only as request objects signed with --jwks-file keys (RFC 9101)",
    )
    create.add_argument(
        "--backchannel-logout-uri",
        metavar="URI",
        help="where logout tokens are POSTed when a user's session ends (OIDC Back-Channel Logout) (default: none)",
    )
    create.add_argument(
        "--backchannel-logout-session-required",
        action="store_true",
        help="the client needs the session id (sid) in logout tokens (they always carry it)",
    )
    create.add_argument(
        "--require-dpop",
        action="store_true",
        help="every token request must carry a DPoP proof; tokens are bound to its key (RFC 9449)",
    )
    create.add_argument(
        "--introspect",
        action="append",
        default=[],
        dest="introspect",
        metavar="AUDIENCE",
        help="this client is the resource server for AUDIENCE (a URI): it may introspect tokens whose aud "
        "includes it (every client may introspect its own tokens), repeatable (default: none)",
    )
    create.add_argument(
        "--admin",
        action="store_true",
        help="may use the admin API: granted the scopes admin:read and admin:write (client_credentials only)",
    )
    # RFC 7591 §2 metadata for people, shown on the consent and device pages (README "Branding and languages").
    create.add_argument(
        "--logo-uri",
        help="the client's logo on the consent and device pages: an https URL or a /static/ path (default: none)",
    )
    create.add_argument("--client-uri", help="the client's home page, linked from the consent page (default: none)")
    create.add_argument(
        "--policy-uri", help="the client's privacy policy, linked from the consent page (default: none)"
    )
    create.add_argument("--tos-uri", help="the client's terms of service, linked from the consent page (default: none)")
    add_json(create)
    create.set_defaults(handler=create_client)

    update = sub.add_parser(
        "update", help="change how a client is presented to people, or what it may do as a resource server"
    )
    update.add_argument("client_id", metavar="CLIENT_ID", help="the client's id")
    update.add_argument("--client-name", metavar="NAME", help="the name people see (1-200 characters)")
    for flag, what in PRESENTATION_FLAGS.items():
        update.add_argument(flag, metavar="URI", help=f"{what}; an empty string removes it")
    update.add_argument(
        "--introspect",
        action="append",
        default=None,
        dest="introspect",
        metavar="AUDIENCE",
        help="an audience the client serves as a resource server, repeatable (replaces the registered ones)",
    )
    update.add_argument(
        "--no-introspect", action="store_true", help="the client may introspect only its own tokens again"
    )
    add_json(update)
    update.set_defaults(handler=update_client)

    rotate = sub.add_parser(
        "rotate-secret", help="give a client a new secret (printed once); the old one stops working at once"
    )
    rotate.add_argument("client_id", metavar="CLIENT_ID", help="the client's id")
    add_json(rotate)
    rotate.set_defaults(handler=rotate_secret)

    for name, handler, helptext in (
        ("show", show_client, "show one client"),
        ("delete", delete_client, "delete a client; its tokens stop introspecting as active"),
        ("disable", disable_client, "refuse the client's authentication and end its tokens"),
        ("enable", enable_client, "enable a disabled client"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("client_id", metavar="CLIENT_ID", help="the client's id")
        add_json(cmd)
        cmd.set_defaults(handler=handler)
    listing = sub.add_parser("list", help="list clients")
    add_json(listing)
    listing.set_defaults(handler=list_clients)

    token = sub.add_parser(
        "registration-token",
        help="an initial access token for dynamic client registration (RFC 7591 section 3); printed once",
    )
    token.add_argument(
        "--uses", type=int, default=1, metavar="N", help="how many registrations it allows (0: unlimited)"
    )
    token.add_argument(
        "--expires-in", type=int, default=86400, metavar="SECONDS", help="how long it is valid (0: no expiry)"
    )
    add_json(token)
    token.set_defaults(handler=registration_token)


def _load_jwks(path: str) -> Any:
    """The file's JSON; the service checks that it is a JWK Set of public keys."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as exc:
        raise CommandError(f"cannot read --jwks-file: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(
            f"--jwks-file is not a valid JWK Set: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from None


def _spec(args: Namespace) -> ClientSpec:
    from authserver.manage.clients import ClientSpec

    return ClientSpec(
        name=args.name,
        grant_types=args.grant_types,
        redirect_uris=args.redirect_uris,
        post_logout_redirect_uris=args.post_logout_uris,
        scope=args.scope,
        resources=args.resources,
        public=args.public,
        token_endpoint_auth_method=args.auth_method,
        jwks=_load_jwks(args.jwks_file) if args.jwks_file else None,
        first_party=args.first_party,
        require_mfa=args.require_mfa,
        require_pushed_authorization_requests=args.require_par,
        require_signed_request_object=args.require_signed_request_object,
        dpop_bound_access_tokens=args.require_dpop,
        backchannel_logout_uri=args.backchannel_logout_uri,
        backchannel_logout_session_required=args.backchannel_logout_session_required,
        introspect=args.introspect,
        admin=args.admin,
        client_metadata={
            key: value
            for key in ("logo_uri", "client_uri", "policy_uri", "tos_uri")
            if (value := getattr(args, key)) is not None
        },
    )


def create_client(args: Namespace, ctx: Context) -> int:
    from authserver.manage import clients
    from authserver.security.secrets import SecretHasher

    with cli_errors(clients.CLI_OPTIONS):
        client, secret = clients.create(
            ctx.store, SecretHasher(ctx.settings.secret_bytes()), _spec(args), now=int(ctx.clock())
        )
    data = clients.describe(client)
    data["client_secret"] = secret
    text = None
    if not args.json:
        text = f"client_id      {client.client_id}"
        if secret:
            text += f"\nclient_secret  {secret}\n(the secret is shown only now; store it safely)"
    emit(args, data, text=text)
    return 0


def _changes(args: Namespace) -> dict[str, Any]:
    """The JSON fields `client update` changes (the admin API's PATCH takes the same, under the same rules)."""
    changes: dict[str, Any] = {}
    if args.no_introspect and args.introspect is not None:
        raise CommandError("give either --introspect AUDIENCE (repeatable) or --no-introspect, not both")
    if args.introspect is not None or args.no_introspect:
        changes["introspect"] = args.introspect or []
    if args.client_name is not None:
        changes["name"] = args.client_name
    for flag in PRESENTATION_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            changes[flag[2:].replace("-", "_")] = value or None  # "": remove it
    if not changes:
        raise CommandError(
            "nothing to change: give --client-name, --logo-uri, --client-uri, --policy-uri, --tos-uri, "
            "--introspect AUDIENCE (repeatable) or --no-introspect"
        )
    return changes


def update_client(args: Namespace, ctx: Context) -> int:
    from authserver.manage import clients

    changes = _changes(args)
    with cli_errors({**clients.CLI_OPTIONS, "name": "--client-name"}):
        updated = clients.update(ctx.store, args.client_id, changes)
    emit(args, clients.describe(updated), text=f"updated client {updated.client_id}")
    return 0


def rotate_secret(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.manage import clients
    from authserver.security.secrets import SecretHasher

    with cli_errors(clients.CLI_OPTIONS):
        client, secret = clients.rotate_secret(ctx.store, SecretHasher(ctx.settings.secret_bytes()), args.client_id)
    Events(ctx.store).emit("client.secret_rotated", client_id=client.client_id, by="admin-cli")
    text = f"client_id      {client.client_id}\nclient_secret  {secret}\n(the old secret no longer works; the new one is shown only now)"
    emit(args, {"client_id": client.client_id, "client_secret": secret}, text=text)
    return 0


def show_client(args: Namespace, ctx: Context) -> int:
    from authserver.manage import clients

    with cli_errors(clients.CLI_OPTIONS):
        emit(args, clients.describe(clients.get(ctx.store, args.client_id)))
    return 0


def list_clients(args: Namespace, ctx: Context) -> int:
    from authserver.manage import clients

    rows = [clients.describe(c) for c in ctx.store.list_clients()]
    if not args.json and not rows:
        print("no clients")
        return 0
    emit(args, rows)
    return 0


def delete_client(args: Namespace, ctx: Context) -> int:
    from authserver.manage import clients

    with cli_errors(clients.CLI_OPTIONS):
        clients.delete(ctx.store, args.client_id)
    emit(args, {"client_id": args.client_id, "deleted": True}, text=f"deleted client {args.client_id}")
    return 0


def _set_disabled(args: Namespace, ctx: Context, disabled: bool) -> int:
    from authserver.manage import clients

    with cli_errors(clients.CLI_OPTIONS):
        clients.set_disabled(ctx.store, args.client_id, disabled)
    state = "disabled" if disabled else "enabled"
    emit(args, {"client_id": args.client_id, "disabled": disabled}, text=f"{state} client {args.client_id}")
    return 0


def disable_client(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, True)


def enable_client(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, False)


def registration_token(args: Namespace, ctx: Context) -> int:
    from authserver.audit import Events
    from authserver.manage import registration

    with cli_errors({"uses": "--uses", "expires_in": "--expires-in"}):
        token, expires_at = registration.issue_token(
            ctx.store, uses=args.uses, expires_in=args.expires_in, now=int(ctx.clock())
        )
    Events(ctx.store).emit("registration_token.issued", by="admin-cli", uses=args.uses or None, expires_at=expires_at)
    emit(args, {"token": token, "uses": args.uses or None, "expires_at": expires_at}, text=token)
    return 0
