"""Registering and changing OAuth clients: one set of rules for the CLI, the admin API and dynamic
registration (RFC 7591), so each front end gives the same answers.

A request is a `ClientSpec` (the CLI builds it from options, the API from JSON with `spec_from_json`);
`build` checks it and makes the `Client` record. Failures are `manage.errors` naming the field by its
JSON name (the key of `describe`); the CLI shows the matching option from `CLI_OPTIONS`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from authserver.domain import (
    ADMIN_SCOPES,
    AUTH_METHODS,
    AUTH_METHODS_WITH_SECRET,
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_TYPES,
    Client,
)
from authserver.manage.errors import Conflict, Invalid, NotFound, Stale
from authserver.manage.users import email_problem
from authserver.oauth import presentation, redirect_uris
from authserver.oauth.keys import InvalidKeySet, public_key_set
from authserver.security.secrets import SecretHasher
from authserver.store import ClientStore, DuplicateError

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
MAX_NAME = 200
MAX_LIST = 50  # redirect URIs, resources, audiences, contacts: more is a mistake or an attack
# RFC 7591 §2 metadata for people; URLs are https (http only for loopback, in development).
METADATA_URIS = ("client_uri", "logo_uri", "policy_uri", "tos_uri")

# The CLI option of each field (`client create`), for its messages.
CLI_OPTIONS = {
    "name": "--name",
    "grant_types": "--grant-type",
    "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-redirect-uri",
    "scope": "--scope",
    "resources": "--resource",
    "public": "--public",
    "token_endpoint_auth_method": "--token-endpoint-auth-method",
    "jwks": "--jwks-file",
    "first_party": "--first-party",
    "require_mfa": "--require-mfa",
    "require_pushed_authorization_requests": "--require-par",
    "require_signed_request_object": "--require-signed-request-object",
    "dpop_bound_access_tokens": "--require-dpop",
    "backchannel_logout_uri": "--backchannel-logout-uri",
    "backchannel_logout_session_required": "--backchannel-logout-session-required",
    "introspect": "--introspect",
    "admin": "--admin",
    "logo_uri": "--logo-uri",
    "client_uri": "--client-uri",
    "policy_uri": "--policy-uri",
    "tos_uri": "--tos-uri",
}


@dataclass
class ClientSpec:
    """What a caller asks for; `build` decides what it gets (defaults depend on other fields)."""

    name: str
    grant_types: list[str] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    scope: str | None = None
    resources: list[str] = field(default_factory=list)
    public: bool = False
    token_endpoint_auth_method: str | None = None
    jwks: dict[str, Any] | None = None
    first_party: bool = False
    require_mfa: bool = False
    require_pushed_authorization_requests: bool = False
    require_signed_request_object: bool = False
    dpop_bound_access_tokens: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    introspect: list[str] = field(default_factory=list)
    # admin:read and admin:write for the admin API (client credentials only).
    admin: bool = False
    client_metadata: dict[str, Any] = field(default_factory=dict)


def describe(client: Client) -> dict[str, Any]:
    """The client as the CLI prints it and the API returns it (never a secret)."""
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
        "admin": client.is_admin,
        "jwks": client.jwks,
        **{key: client.client_metadata.get(key) for key in (*METADATA_URIS, "contacts")},
        "registered_by": client.registered_by,
        "disabled": client.disabled,
        "created_at": client.created_at,
    }


def new_client_id() -> str:
    # Letters and digits only (~143 bits): never starts with '-', so it can be passed back to the CLI.
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def _uri(uri: str, name: str) -> str:
    try:
        return redirect_uris.check(uri)
    except redirect_uris.RedirectUriError as exc:
        raise Invalid("{" + name + "} " + _braces(str(exc)), field=name, value=uri) from None


def _braces(text: str) -> str:
    return text.replace("{", "(").replace("}", ")")


def _absolute(uri: str, name: str) -> str:
    # RFC 8707 §2: an absolute URI (a URN is one) without a fragment.
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.path) or "#" in uri or any(c.isspace() for c in uri):
        raise Invalid("{" + name + "} must be an absolute URI without a fragment", field=name, value=uri)
    return uri


def _web_url(uri: str, name: str) -> str:
    checked = _uri(uri, name)
    if urlsplit(checked).scheme not in ("http", "https"):
        raise Invalid("{" + name + "} must be an https URL", field=name, value=uri)
    return checked


def _logo(uri: Any) -> str:
    # Shown on our pages: only https (its origin joins that page's img-src) or our own /static/ files.
    try:
        return presentation.check_logo_uri(uri if isinstance(uri, str) else "")
    except presentation.PresentationError as exc:
        raise Invalid("{logo_uri} " + str(exc), field="logo_uri", value=uri) from None


def check_jwks(data: Any) -> dict[str, Any]:
    try:
        keys = public_key_set(data, "\x00")
    except InvalidKeySet as exc:
        raise Invalid(_braces(str(exc)).replace("\x00", "{jwks}"), field="jwks") from None
    return keys


def _checked_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in METADATA_URIS:
        value = metadata.get(key)
        if value is not None:
            result[key] = _web_url(value, key) if key != "logo_uri" else _logo(value)
    contacts = metadata.get("contacts")
    if contacts:
        for contact in contacts:
            if email_problem(contact):
                raise Invalid("{contacts} must be email addresses", field="contacts", value=contact)
        result["contacts"] = list(dict.fromkeys(contacts))
    return result


def _many(values: list[str], name: str) -> list[str]:
    if len(values) > MAX_LIST:
        raise Invalid("{" + name + "} takes at most " + str(MAX_LIST) + " values", field=name)
    return values


def build(
    spec: ClientSpec,
    *,
    client_id: str,
    created_at: int,
    secret_hash: str | None = None,
    registered_by: str = "cli",
) -> Client:
    """Check `spec` and make the record (`secret_hash` is the caller's: set only for secret methods)."""
    name = spec.name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise Invalid("{name} must be 1 to 200 characters on one line", field="name")
    method = spec.token_endpoint_auth_method or ("none" if spec.public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise Invalid(
            "{token_endpoint_auth_method} must be one of " + ", ".join(AUTH_METHODS),
            field="token_endpoint_auth_method",
            value=method,
        )
    if spec.public and method != "none":
        raise Invalid("{public} clients authenticate with 'none'", field="token_endpoint_auth_method")
    public = method == "none"
    for grant in spec.grant_types:
        if grant not in GRANT_TYPES:
            raise Invalid("{grant_types} must be among " + ", ".join(GRANT_TYPES), field="grant_types", value=grant)
    default_grants = [GRANT_AUTHORIZATION_CODE] if (public or spec.redirect_uris) else [GRANT_CLIENT_CREDENTIALS]
    grant_types = list(dict.fromkeys(spec.grant_types or default_grants))
    if public and GRANT_CLIENT_CREDENTIALS in grant_types:
        raise Invalid("a public client cannot use client_credentials (RFC 6749 section 4.4)", field="grant_types")
    signs_in = GRANT_AUTHORIZATION_CODE in grant_types
    if signs_in and not spec.redirect_uris:
        raise Invalid("authorization_code needs at least one {redirect_uris}", field="redirect_uris")
    user_grants = signs_in or GRANT_DEVICE_CODE in grant_types
    if GRANT_REFRESH_TOKEN in grant_types and not user_grants:
        raise Invalid(
            "refresh_token is only issued with authorization_code or the device_code grant", field="grant_types"
        )
    if spec.post_logout_redirect_uris and not signs_in:
        raise Invalid(
            "{post_logout_redirect_uris} is for clients that sign users in (authorization_code)",
            field="post_logout_redirect_uris",
        )
    scope = spec.scope
    if scope is None:
        scope = ""
        if user_grants:
            scope = "openid profile email" + (" offline_access" if GRANT_REFRESH_TOKEN in grant_types else "")
    if method == "private_key_jwt" and spec.jwks is None:
        raise Invalid("private_key_jwt needs {jwks} with the client's public keys", field="jwks")
    if spec.require_signed_request_object and spec.jwks is None:
        raise Invalid("{require_signed_request_object} needs {jwks} with the keys that sign them", field="jwks")
    if (spec.require_pushed_authorization_requests or spec.require_signed_request_object) and not signs_in:
        raise Invalid(
            "{require_pushed_authorization_requests} and {require_signed_request_object} are for "
            "authorization_code clients",
            field="require_pushed_authorization_requests"
            if spec.require_pushed_authorization_requests
            else "require_signed_request_object",
        )
    if spec.jwks is not None and method != "private_key_jwt" and not signs_in:
        raise Invalid(
            "{jwks} is for private_key_jwt or for signed request objects (authorization_code clients)",
            field="jwks",
        )
    # The keys verify private_key_jwt assertions and signed request objects (RFC 9101), whatever the method.
    jwks = check_jwks(spec.jwks) if spec.jwks is not None else None
    scopes = scope.split()
    for token in scopes:
        if not _SCOPE_TOKEN.fullmatch(token):
            raise Invalid("invalid scope in {scope} (RFC 6749 section 3.3)", field="scope", value=token)
        if token in ADMIN_SCOPES:
            raise Invalid("{scope}: the admin scopes are granted only with {admin}", field="scope", value=token)
    if spec.admin:
        if public or grant_types != [GRANT_CLIENT_CREDENTIALS]:
            raise Invalid("{admin} clients are confidential and use only the client_credentials grant", field="admin")
        scopes = [*scopes, *ADMIN_SCOPES]
    redirects = [_uri(u, "redirect_uris") for u in _many(spec.redirect_uris, "redirect_uris")]
    logout_uris = [
        _uri(u, "post_logout_redirect_uris") for u in _many(spec.post_logout_redirect_uris, "post_logout_redirect_uris")
    ]
    resources = [_absolute(u, "resources") for u in _many(spec.resources, "resources")]
    backchannel_uri = None
    if spec.backchannel_logout_uri is not None:
        if not signs_in:
            raise Invalid(
                "{backchannel_logout_uri} is for clients that sign users in (authorization_code)",
                field="backchannel_logout_uri",
            )
        # Back-Channel Logout §2.2: absolute, no fragment; https (http only for loopback, in development).
        backchannel_uri = _web_url(spec.backchannel_logout_uri, "backchannel_logout_uri")
    elif spec.backchannel_logout_session_required:
        raise Invalid(
            "{backchannel_logout_session_required} needs {backchannel_logout_uri}",
            field="backchannel_logout_session_required",
        )
    if spec.introspect and public:
        raise Invalid(
            "{introspect} is for confidential clients (introspection needs client authentication)", field="introspect"
        )
    audiences = [_absolute(a, "introspect") for a in _many(spec.introspect, "introspect")]
    if secret_hash is not None and method not in AUTH_METHODS_WITH_SECRET:
        secret_hash = None
    return Client(
        client_id=client_id,
        name=name,
        token_endpoint_auth_method=method,
        grant_types=tuple(grant_types),
        redirect_uris=tuple(dict.fromkeys(redirects)),
        post_logout_redirect_uris=tuple(dict.fromkeys(logout_uris)),
        scopes=tuple(dict.fromkeys(scopes)),
        resources=tuple(dict.fromkeys(resources)),
        jwks=jwks,
        secret_hash=secret_hash,
        first_party=spec.first_party,
        require_mfa=spec.require_mfa,
        require_par=spec.require_pushed_authorization_requests,
        require_signed_request_object=spec.require_signed_request_object,
        dpop_bound_access_tokens=spec.dpop_bound_access_tokens,
        backchannel_logout_uri=backchannel_uri,
        backchannel_logout_session_required=spec.backchannel_logout_session_required,
        introspect_audiences=tuple(dict.fromkeys(audiences)),
        client_metadata=_checked_metadata(spec.client_metadata),
        registered_by=registered_by,
        created_at=created_at,
    )


def create(
    store: ClientStore, hasher: SecretHasher, spec: ClientSpec, *, now: int, registered_by: str = "cli"
) -> tuple[Client, str | None]:
    """Register a client; its secret (None for public and private_key_jwt clients) is returned only here."""
    generated = SecretHasher.generate()
    client = build(
        spec,
        client_id=new_client_id(),
        created_at=now,
        secret_hash=hasher.hash(generated),
        registered_by=registered_by,
    )
    try:
        store.add_client(client)
    except DuplicateError as exc:
        raise Conflict(str(exc)) from None
    return client, generated if client.secret_hash is not None else None


def get(store: ClientStore, client_id: str) -> Client:
    client = store.get_client(client_id)
    if client is None:
        raise NotFound("no client", value=client_id)
    return client


def spec_of(client: Client) -> ClientSpec:
    """The spec that builds `client` again (for an update: change some fields, build, compare)."""
    return ClientSpec(
        name=client.name,
        grant_types=list(client.grant_types),
        redirect_uris=list(client.redirect_uris),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        scope=" ".join(s for s in client.scopes if s not in ADMIN_SCOPES),
        resources=list(client.resources),
        public=client.is_public,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        jwks=client.jwks,
        first_party=client.first_party,
        require_mfa=client.require_mfa,
        require_pushed_authorization_requests=client.require_par,
        require_signed_request_object=client.require_signed_request_object,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        backchannel_logout_uri=client.backchannel_logout_uri,
        backchannel_logout_session_required=client.backchannel_logout_session_required,
        introspect=list(client.introspect_audiences),
        admin=client.is_admin,
        client_metadata=dict(client.client_metadata),
    )


# Fixed at registration: changing them changes what the client's credentials are (register a new client).
IMMUTABLE = ("client_id", "public", "token_endpoint_auth_method", "admin", "registered_by", "created_at")


def update(
    store: ClientStore, client_id: str, changes: Mapping[str, Any], *, expected_version: int | None = None
) -> Client:
    """Apply `changes` (JSON field -> new value) under the same rules as creation. With `expected_version`
    (If-Match), Stale when the client changed since; without it, the version read here (a concurrent
    change in between is refused as Stale too, never overwritten)."""
    current = get(store, client_id)
    if expected_version is not None and current.version != expected_version:
        raise Stale("the client changed since it was read")
    for key in changes:
        if key in IMMUTABLE:
            raise Invalid("{" + key + "} cannot be changed: register a new client", field=key)
    spec = apply_changes(spec_of(current), changes)
    updated = build(
        spec,
        client_id=current.client_id,
        created_at=current.created_at,
        secret_hash=current.secret_hash,
        registered_by=current.registered_by,
    )
    updated = replace(
        updated,
        disabled=current.disabled,
        registration_token_hash=current.registration_token_hash,
        version=current.version + 1,
    )
    if not store.replace_client(updated, expected_version=current.version):
        if store.get_client(client_id) is None:
            raise NotFound("no client", value=client_id)
        raise Stale("the client changed since it was read")
    return updated


def replace_from_spec(
    store: ClientStore, current: Client, spec: ClientSpec, *, registration_token_hash: str | None
) -> Client:
    """Rebuild `current` from a whole new spec (RFC 7592 §2.2 replaces every field), keeping its id,
    secret, creation time and disabled state; Stale if it changed meanwhile."""
    updated = build(
        spec,
        client_id=current.client_id,
        created_at=current.created_at,
        secret_hash=current.secret_hash,
        registered_by=current.registered_by,
    )
    updated = replace(
        updated,
        disabled=current.disabled,
        registration_token_hash=registration_token_hash,
        version=current.version + 1,
    )
    if not store.replace_client(updated, expected_version=current.version):
        raise Stale("the client changed since it was read")
    return updated


def rotate_secret(store: ClientStore, hasher: SecretHasher, client_id: str) -> tuple[Client, str]:
    """A new secret replaces the old at once (the old one stops working); shown only here."""
    client = get(store, client_id)
    if client.token_endpoint_auth_method not in AUTH_METHODS_WITH_SECRET:
        raise Conflict(f"the client authenticates with {client.token_endpoint_auth_method}: it has no secret to rotate")
    secret = SecretHasher.generate()
    if not store.set_client_secret_hash(client_id, hasher.hash(secret)):
        raise NotFound("no client", value=client_id)
    return get(store, client_id), secret


def set_disabled(store: ClientStore, client_id: str, disabled: bool) -> Client:
    if not store.set_client_disabled(client_id, disabled):
        raise NotFound("no client", value=client_id)
    return get(store, client_id)


def delete(store: ClientStore, client_id: str) -> None:
    if not store.delete_client(client_id):
        raise NotFound("no client", value=client_id)


# The JSON shape of each ClientSpec field, for the API's checks.
_LISTS = ("grant_types", "redirect_uris", "post_logout_redirect_uris", "resources", "introspect", "contacts")
_BOOLS = (
    "public",
    "first_party",
    "require_mfa",
    "require_pushed_authorization_requests",
    "require_signed_request_object",
    "dpop_bound_access_tokens",
    "backchannel_logout_session_required",
    "admin",
)
_STRINGS = ("name", "scope", "token_endpoint_auth_method", "backchannel_logout_uri", *METADATA_URIS)
SPEC_FIELDS = frozenset(f.name for f in fields(ClientSpec)) - {"client_metadata"} | {*METADATA_URIS, "contacts"}


def check_json_field(key: str, value: Any) -> None:
    """Raise Invalid naming `key` unless `value` has the field's JSON type."""
    if key in _LISTS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid("{" + key + "} must be an array of strings", field=key)
    elif key in _BOOLS:
        if not isinstance(value, bool):
            raise Invalid("{" + key + "} must be true or false", field=key)
    elif key in _STRINGS:
        if value is not None and not isinstance(value, str):
            raise Invalid("{" + key + "} must be a string", field=key)
    elif key == "jwks" and value is not None and not isinstance(value, dict):
        raise Invalid("{jwks} must be a JWK Set (a JSON object)", field=key)


def apply_changes(spec: ClientSpec, changes: Mapping[str, Any]) -> ClientSpec:
    """`spec` with the JSON fields of `changes` set (each checked for its type; unknown fields refused)."""
    values = {f.name: getattr(spec, f.name) for f in fields(ClientSpec)}
    metadata = dict(values.pop("client_metadata"))
    for key, value in changes.items():
        if key not in SPEC_FIELDS:
            raise Invalid("{" + key + "} is not a client field", field=key)
        check_json_field(key, value)
        if key in (*METADATA_URIS, "contacts"):
            if value is None or value == []:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        elif key == "name" and value is None:
            raise Invalid("{name} must be a string", field=key)
        else:
            values[key] = value
    return ClientSpec(**values, client_metadata=metadata)


def spec_from_json(body: Mapping[str, Any]) -> ClientSpec:
    if "name" not in body:
        raise Invalid("{name} is required", field="name")
    return apply_changes(ClientSpec(name=""), body)
