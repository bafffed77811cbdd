"""Dynamic client registration (RFC 7591) and its management (RFC 7592): the initial access tokens that
open it, and the registration access tokens that manage a registered client. Both are random values
stored only as SHA-256 hashes (they carry 256 bits: no salt or slow hash is needed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from authserver.domain import GRANT_AUTHORIZATION_CODE, Client
from authserver.manage import clients
from authserver.manage.clients import ClientSpec
from authserver.manage.errors import Invalid
from authserver.security.secrets import SecretHasher
from authserver.store import ClientStore, RegistrationStore, Store

MAX_USES = 1_000_000
MAX_EXPIRES_IN = 366 * 86400


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def issue_token(store: RegistrationStore, *, uses: int, expires_in: int, now: int) -> tuple[str, int | None]:
    """An initial access token (uses 0: unlimited; expires_in 0: never), and when it expires."""
    if not 0 <= uses <= MAX_USES:
        raise Invalid("{uses} must be between 0 and " + str(MAX_USES), field="uses")
    if not 0 <= expires_in <= MAX_EXPIRES_IN:
        raise Invalid("{expires_in} must be between 0 and " + str(MAX_EXPIRES_IN) + " seconds", field="expires_in")
    token = new_token()
    expires_at = now + expires_in if expires_in else None
    store.add_registration_token(token_hash(token), uses=uses or None, expires_at=expires_at, created_at=now)
    return token, expires_at


# RFC 7591 §2 names of the fields that differ from the admin API's.
RFC_NAMES = {"name": "client_name"}
# Metadata a registering client may send (RFC 7591 §2, OIDC Registration, RFC 9126 §6, RFC 9449 §5.2,
# Back-Channel Logout §2.2); anything else is ignored (RFC 7591 §2: "MUST ignore" what it does not
# understand), so `admin`, `first_party` or `introspect` never come from a registration.
_LISTS = ("redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types", "contacts")
_STRINGS = (
    "client_name",
    "token_endpoint_auth_method",
    "scope",
    "backchannel_logout_uri",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "jwks_uri",
)
_BOOLS = (
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "backchannel_logout_session_required",
)
DEFAULT_NAME = "Unnamed app"


def spec_from_metadata(metadata: Mapping[str, Any]) -> ClientSpec:
    """The client a registration asks for (RFC 7591 §2 defaults: authorization_code, client_secret_basic)."""
    for key in _LISTS:
        value = metadata.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise Invalid("{" + key + "} must be an array of strings", field=key)
    for key in _STRINGS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            raise Invalid("{" + key + "} must be a string", field=key)
    for key in _BOOLS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, bool):
            raise Invalid("{" + key + "} must be true or false", field=key)
    if metadata.get("jwks_uri") is not None:
        # Fetching keys from a URL the registrant names is an SSRF and a key-substitution risk: send them.
        raise Invalid("{jwks_uri} is not supported: register the keys themselves as jwks", field="jwks_uri")
    jwks = metadata.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise Invalid("{jwks} must be a JWK Set (a JSON object)", field="jwks")
    grant_types = list(metadata.get("grant_types") or [GRANT_AUTHORIZATION_CODE])
    response_types = metadata.get("response_types")
    # RFC 7591 §2.1: response_types and grant_types must agree; this server has only the code flow.
    if response_types is not None:
        if any(r != "code" for r in response_types):
            raise Invalid('{response_types} may only be ["code"]', field="response_types")
        if response_types and GRANT_AUTHORIZATION_CODE not in grant_types:
            raise Invalid("{response_types} code needs the authorization_code grant", field="response_types")
    method = metadata.get("token_endpoint_auth_method") or "client_secret_basic"
    return ClientSpec(
        name=metadata.get("client_name") or DEFAULT_NAME,
        grant_types=grant_types,
        redirect_uris=list(metadata.get("redirect_uris") or []),
        post_logout_redirect_uris=list(metadata.get("post_logout_redirect_uris") or []),
        scope=metadata.get("scope"),
        public=method == "none",
        token_endpoint_auth_method=method,
        jwks=jwks,
        require_pushed_authorization_requests=bool(metadata.get("require_pushed_authorization_requests")),
        dpop_bound_access_tokens=bool(metadata.get("dpop_bound_access_tokens")),
        backchannel_logout_uri=metadata.get("backchannel_logout_uri"),
        backchannel_logout_session_required=bool(metadata.get("backchannel_logout_session_required")),
        client_metadata={
            key: metadata[key]
            for key in ("client_uri", "logo_uri", "policy_uri", "tos_uri", "contacts")
            if metadata.get(key) is not None
        },
    )


def registered_metadata(client: Client) -> dict[str, Any]:
    """RFC 7591 §3.2.1: the client's metadata as registered (never its secret)."""
    data: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if GRANT_AUTHORIZATION_CODE in client.grant_types else [],
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scope": " ".join(client.scopes),
        "require_pushed_authorization_requests": client.require_par,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        **({"jwks": client.jwks} if client.jwks else {}),
        **(
            {
                "backchannel_logout_uri": client.backchannel_logout_uri,
                "backchannel_logout_session_required": client.backchannel_logout_session_required,
            }
            if client.backchannel_logout_uri
            else {}
        ),
        **client.client_metadata,
    }
    if client.secret_hash is not None:
        data["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0, it does not expire
    return data


def register(
    store: Store, hasher: SecretHasher, metadata: Mapping[str, Any], *, now: int
) -> tuple[Client, str | None, str]:
    """RFC 7591 §3: the new client, its secret (None without one) and its registration access token."""
    client, secret = clients.create(store, hasher, spec_from_metadata(metadata), now=now, registered_by="dynamic")
    token = new_token()
    store.set_registration_token_hash(client.client_id, token_hash(token))
    return client, secret, token


def registered_client(store: ClientStore, client_id: str, token: str) -> Client | None:
    """RFC 7592 §3: the dynamically registered client this registration access token manages, or None
    (unknown client, not registered dynamically, wrong token: one answer for all, in constant time)."""
    client = store.get_client(client_id)
    expected = client.registration_token_hash if client is not None else None
    valid = hmac.compare_digest(token_hash(token), expected or "0" * 64)
    if client is None or expected is None or not valid or client.registered_by != "dynamic":
        return None
    return client


def update_registration(store: Store, client: Client, metadata: Mapping[str, Any]) -> tuple[Client, str]:
    """RFC 7592 §2.2: replace the metadata (omitted fields take their defaults); the registration access
    token rotates (the old one stops working). The authentication method cannot change."""
    if metadata.get("client_id") != client.client_id:
        raise Invalid("{client_id} must be the registered client's", field="client_id")
    spec = spec_from_metadata(metadata)
    if spec.token_endpoint_auth_method != client.token_endpoint_auth_method:
        raise Invalid(
            "{token_endpoint_auth_method} cannot change: register a new client", field="token_endpoint_auth_method"
        )
    token = new_token()
    updated = clients.replace_from_spec(store, client, spec, registration_token_hash=token_hash(token))
    return updated, token
