"""authserver client create|list|show|delete."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authserver.cli.output import CommandError, emit
from authserver.domain import (
    AUTH_METHODS,
    AUTH_METHODS_WITH_SECRET,
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_TYPES,
    Client,
)
from authserver.oauth import redirect_uris
from authserver.security.secrets import SecretHasher
from authserver.store import DuplicateError

if TYPE_CHECKING:
    from argparse import Namespace

    from authserver.cli.context import Commands, Context

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def register(commands: Commands) -> None:
    parser = commands.add_parser("client", help="manage OAuth clients")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="register a client; prints its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--grant-type", action="append", default=[], choices=GRANT_TYPES, dest="grant_types")
    create.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
    create.add_argument("--post-logout-redirect-uri", action="append", default=[], dest="post_logout_uris")
    create.add_argument(
        "--scope",
        default=None,
        help='allowed scopes, space-separated: "a b" (sign-in clients default to '
        '"openid profile email", plus offline_access with refresh_token)',
    )
    create.add_argument(
        "--resource",
        action="append",
        default=[],
        dest="resources",
        help="an RFC 8707 resource (token audience) the client may request",
    )
    create.add_argument("--public", action="store_true", help="a public client (no secret)")
    create.add_argument("--token-endpoint-auth-method", choices=AUTH_METHODS, dest="auth_method")
    create.add_argument(
        "--jwks-file", help="JWK Set with the client's public keys (private_key_jwt, signed request objects)"
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
        help="where logout tokens are POSTed when a user's session ends (OIDC Back-Channel Logout)",
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
        "includes it (every client may introspect its own tokens)",
    )
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=create_client)

    update = sub.add_parser("update", help="change what a client may do as a resource server")
    update.add_argument("client_id")
    update.add_argument(
        "--introspect",
        action="append",
        default=None,
        dest="introspect",
        metavar="AUDIENCE",
        help="the audiences the client serves as a resource server (replaces the registered ones)",
    )
    update.add_argument(
        "--no-introspect", action="store_true", help="the client may introspect only its own tokens again"
    )
    update.add_argument("--json", action="store_true")
    update.set_defaults(handler=update_client)

    for name, handler, helptext in (
        ("show", show_client, "show one client"),
        ("delete", delete_client, "delete a client; its tokens stop introspecting as active"),
        ("disable", disable_client, "refuse the client's authentication and end its tokens"),
        ("enable", enable_client, "enable a disabled client"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("client_id")
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(handler=handler)
    listing = sub.add_parser("list", help="list clients")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_clients)


def describe(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "public": client.is_public,
        "grant_types": list(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scope": " ".join(client.scopes),
        "resources": list(client.resources),
        "first_party": client.first_party,
        "require_mfa": client.require_mfa,
        "require_pushed_authorization_requests": client.require_par,
        "require_signed_request_object": client.require_signed_request_object,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "introspect": list(client.introspect_audiences),
        "disabled": client.disabled,
        "created_at": client.created_at,
    }


_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_client_id() -> str:
    # Letters and digits only (~143 bits): never starts with '-', so it can be passed back to the CLI.
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def _check_uri(uri: str, what: str) -> str:
    try:
        return redirect_uris.check(uri)
    except redirect_uris.RedirectUriError as exc:
        raise CommandError(f"{what} {exc}: {uri!r}") from None


def _check_resource(uri: str, what: str = "--resource") -> str:
    # RFC 8707 §2: an absolute URI (a URN is one) without a fragment.
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.path) or "#" in uri or any(c.isspace() for c in uri):
        raise CommandError(f"{what} must be an absolute URI without a fragment: {uri!r}")
    return uri


def _load_jwks(path: str) -> dict[str, Any]:
    from authserver.oauth.keys import InvalidKeySet, public_key_set

    try:
        with open(path) as handle:
            data = json.load(handle)
    except OSError as exc:
        raise CommandError(f"cannot read --jwks-file: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(
            f"--jwks-file is not a valid JWK Set: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from None
    try:
        return public_key_set(data, "--jwks-file")
    except InvalidKeySet as exc:
        raise CommandError(str(exc)) from None


def create_client(args: Namespace, ctx: Context) -> int:
    name = args.name.strip()
    if not name or len(name) > 200:
        raise CommandError("--name must be 1 to 200 characters")
    method = args.auth_method or ("none" if args.public else "client_secret_basic")
    if args.public and method != "none":
        raise CommandError("--public clients authenticate with 'none'")
    public = method == "none"
    default_grants = [GRANT_AUTHORIZATION_CODE] if (public or args.redirect_uris) else [GRANT_CLIENT_CREDENTIALS]
    grant_types = list(dict.fromkeys(args.grant_types or default_grants))
    if public and GRANT_CLIENT_CREDENTIALS in grant_types:
        raise CommandError("a public client cannot use client_credentials (RFC 6749 section 4.4)")
    signs_in = GRANT_AUTHORIZATION_CODE in grant_types
    if signs_in and not args.redirect_uris:
        raise CommandError("authorization_code needs at least one --redirect-uri")
    user_grants = signs_in or GRANT_DEVICE_CODE in grant_types
    if GRANT_REFRESH_TOKEN in grant_types and not user_grants:
        raise CommandError("refresh_token is only issued with authorization_code or the device_code grant")
    if args.post_logout_uris and not signs_in:
        raise CommandError("--post-logout-redirect-uri is for clients that sign users in (authorization_code)")
    if args.scope is None:
        args.scope = ""
        if user_grants:
            args.scope = "openid profile email" + (" offline_access" if GRANT_REFRESH_TOKEN in grant_types else "")
    if method == "private_key_jwt" and not args.jwks_file:
        raise CommandError("private_key_jwt needs --jwks-file with the client's public keys")
    if args.require_signed_request_object and not args.jwks_file:
        raise CommandError("--require-signed-request-object needs --jwks-file with the keys that sign them")
    if (args.require_par or args.require_signed_request_object) and not signs_in:
        raise CommandError("--require-par and --require-signed-request-object are for authorization_code clients")
    if args.jwks_file and method != "private_key_jwt" and not signs_in:
        raise CommandError(
            "--jwks-file is for private_key_jwt or for signed request objects (authorization_code clients)"
        )
    # The keys verify private_key_jwt assertions and signed request objects (RFC 9101), whatever the method.
    jwks = _load_jwks(args.jwks_file) if args.jwks_file else None
    scopes = args.scope.split()
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise CommandError(f"invalid scope {scope!r} (RFC 6749 section 3.3)")
    redirect_uris = [_check_uri(u, "--redirect-uri") for u in args.redirect_uris]
    logout_uris = [_check_uri(u, "--post-logout-redirect-uri") for u in args.post_logout_uris]
    resources = [_check_resource(u) for u in args.resources]
    backchannel_uri = None
    if args.backchannel_logout_uri is not None:
        if not signs_in:
            raise CommandError("--backchannel-logout-uri is for clients that sign users in (authorization_code)")
        # Back-Channel Logout §2.2: absolute, no fragment; https (http only for loopback, in development).
        backchannel_uri = _check_uri(args.backchannel_logout_uri, "--backchannel-logout-uri")
        if urlsplit(backchannel_uri).scheme not in ("http", "https"):
            raise CommandError("--backchannel-logout-uri must be an https URL")
    elif args.backchannel_logout_session_required:
        raise CommandError("--backchannel-logout-session-required needs --backchannel-logout-uri")

    secret = SecretHasher.generate() if method in AUTH_METHODS_WITH_SECRET else None
    hasher = SecretHasher(ctx.settings.secret_bytes()) if secret else None
    client = Client(
        client_id=new_client_id(),
        name=name,
        token_endpoint_auth_method=method,
        grant_types=tuple(grant_types),
        redirect_uris=tuple(dict.fromkeys(redirect_uris)),
        post_logout_redirect_uris=tuple(dict.fromkeys(logout_uris)),
        scopes=tuple(dict.fromkeys(scopes)),
        resources=tuple(dict.fromkeys(resources)),
        jwks=jwks,
        secret_hash=hasher.hash(secret) if hasher and secret else None,
        first_party=args.first_party,
        require_mfa=args.require_mfa,
        require_par=args.require_par,
        require_signed_request_object=args.require_signed_request_object,
        dpop_bound_access_tokens=args.require_dpop,
        backchannel_logout_uri=backchannel_uri,
        backchannel_logout_session_required=args.backchannel_logout_session_required,
        introspect_audiences=_introspect_audiences(args.introspect, public),
        created_at=int(time.time()),
    )
    try:
        ctx.store.add_client(client)
    except DuplicateError as exc:
        raise CommandError(str(exc)) from None
    data = describe(client)
    data["client_secret"] = secret
    text = None
    if not args.json:
        text = f"client_id      {client.client_id}"
        if secret:
            text += f"\nclient_secret  {secret}\n(the secret is shown only now; store it safely)"
    emit(args, data, text=text)
    return 0


def _introspect_audiences(audiences: list[str], public: bool) -> tuple[str, ...]:
    if audiences and public:
        raise CommandError("--introspect is for confidential clients (introspection needs client authentication)")
    return tuple(dict.fromkeys(_check_resource(a, "--introspect") for a in audiences))


def update_client(args: Namespace, ctx: Context) -> int:
    if args.no_introspect == (args.introspect is not None):
        raise CommandError("give either --introspect AUDIENCE (repeatable) or --no-introspect")
    client = _get(ctx, args.client_id)
    audiences = _introspect_audiences(args.introspect or [], client.is_public)
    ctx.store.set_client_introspect_audiences(client.client_id, audiences)
    updated = _get(ctx, args.client_id)
    emit(args, describe(updated), text=f"updated client {client.client_id}")
    return 0


def _get(ctx: Context, client_id: str) -> Client:
    client = ctx.store.get_client(client_id)
    if client is None:
        raise CommandError(f"no client {client_id!r}")
    return client


def show_client(args: Namespace, ctx: Context) -> int:
    emit(args, describe(_get(ctx, args.client_id)))
    return 0


def list_clients(args: Namespace, ctx: Context) -> int:
    rows = [describe(c) for c in ctx.store.list_clients()]
    if not args.json and not rows:
        print("no clients")
        return 0
    emit(args, rows)
    return 0


def delete_client(args: Namespace, ctx: Context) -> int:
    if not ctx.store.delete_client(args.client_id):
        raise CommandError(f"no client {args.client_id!r}")
    emit(args, {"client_id": args.client_id, "deleted": True}, text=f"deleted client {args.client_id}")
    return 0


def _set_disabled(args: Namespace, ctx: Context, disabled: bool) -> int:
    if not ctx.store.set_client_disabled(args.client_id, disabled):
        raise CommandError(f"no client {args.client_id!r}")
    state = "disabled" if disabled else "enabled"
    emit(args, {"client_id": args.client_id, "disabled": disabled}, text=f"{state} client {args.client_id}")
    return 0


def disable_client(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, True)


def enable_client(args: Namespace, ctx: Context) -> int:
    return _set_disabled(args, ctx, False)
