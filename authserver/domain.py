"""Frozen domain records shared by the store, the protocol layer and the CLI."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Final, Literal

AUTH_METHODS_WITH_SECRET = ("client_secret_basic", "client_secret_post")
# Methods that prove the client holds a credential (the token endpoint of client_credentials, introspection).
CONFIDENTIAL_AUTH_METHODS = (*AUTH_METHODS_WITH_SECRET, "private_key_jwt")
AUTH_METHODS = (*CONFIDENTIAL_AUTH_METHODS, "none")
# RFC 8707 §2: `resource` may be repeated; RFC 6749 §3.2 forbids repeating any other parameter.
MULTI_VALUED_PARAMETERS = frozenset({"resource"})

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a protocol name, not a secret
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# Authentication context classes (OIDC Core §2 `acr`): password alone, or with a second factor.
ACR_PASSWORD = "urn:authserver:loa:1"  # noqa: S105 - a protocol name, not a secret
ACR_MFA = "urn:authserver:loa:2"

# The closed sets of values that state fields take (checked by mypy wherever they are written or compared).
DeviceStatus = Literal["pending", "approved", "denied"]  # RFC 8628: the user has not decided / allowed / denied
OutboxStatus = Literal["pending", "sent", "failed"]
RevocationKind = Literal["jti", "grant", "assertion"]

# The grants this server implements; a client can be registered only for these.
GRANT_TYPES = (GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE)

# The admin API's scopes (/admin/api/v1): only clients registered with `client create --admin` hold them.
ADMIN_READ = "admin:read"
ADMIN_WRITE = "admin:write"
ADMIN_SCOPES = (ADMIN_READ, ADMIN_WRITE)


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    # RFC 8707 resource indicators this client may ask tokens for; they become the token's `aud`.
    resources: tuple[str, ...] = ()
    # Public keys for private_key_jwt (RFC 7523), as a JWK Set dict.
    jwks: dict[str, Any] | None = None
    secret_hash: str | None = field(default=None, repr=False)
    first_party: bool = False
    disabled: bool = False
    created_at: int = 0
    # Every sign-in for this client needs a second factor (acr urn:authserver:loa:2).
    require_mfa: bool = False
    # RFC 9126 §6: authorization requests must come through the pushed authorization endpoint.
    require_par: bool = False
    # RFC 9101 §10.5: authorization requests must be signed request objects.
    require_signed_request_object: bool = False
    # RFC 9449 §5.2 dpop_bound_access_tokens: every token request must carry a DPoP proof.
    dpop_bound_access_tokens: bool = False
    # OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed, and whether they
    # must carry the session id (sid).
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    # RFC 7662 §4: the audiences this client serves as a resource server; it may introspect tokens whose
    # `aud` includes one of them (and its own tokens, as every client may).
    introspect_audiences: tuple[str, ...] = ()
    # Bumped by every change of the record: the admin API's ETag, and its If-Match compare-and-set.
    version: int = 1
    # RFC 7591 §2 metadata for people: client_uri, logo_uri, policy_uri, tos_uri, contacts.
    client_metadata: dict[str, Any] = field(default_factory=dict)
    # How the client came to be: cli, admin-api, or dynamic (RFC 7591 registration).
    registered_by: str = "cli"
    # RFC 7592 §3: SHA-256 (hex) of the registration access token of a dynamically registered client.
    registration_token_hash: str | None = field(default=None, repr=False)

    @property
    def is_admin(self) -> bool:
        return any(scope in ADMIN_SCOPES for scope in self.scopes)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a protocol name, not a secret


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str
    name: str = ""
    password_hash: str = field(default="", repr=False)
    email_verified: bool = False
    disabled: bool = False
    created_at: int = 0
    # Bumped by every change of the record (see Client.version).
    version: int = 1


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_key_enc: str = field(repr=False)
    created_at: int
    # When it starts signing; before then it is only published (RFC 7517 key rollover).
    activates_at: int


@dataclass(frozen=True)
class Authentication:
    """How and when a user proved who they are (OIDC Core §2: auth_time, acr, amr)."""

    user_id: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    # A sign-in through another identity provider: its name and what it said about the sign-in
    # ({"name", "acr", "amr"}), kept with the session for audit and step-up decisions.
    upstream: dict[str, Any] | None = None


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser. `id_hash` is the SHA-256 of the cookie value; `sid` is public (ID tokens)."""

    id_hash: str
    sid: str
    user_id: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    created_at: int
    last_seen_at: int
    expires_at: int
    # Sudo mode: when the user last proved their factors again on the re-authentication page, and how.
    reauth_at: int | None = None
    reauth_amr: tuple[str, ...] | None = None
    # Set when the sign-in went through an upstream identity provider (Authentication.upstream).
    upstream: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuthCode:
    code_hash: str
    grant_id: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    sid: str
    claims: dict[str, Any] | None
    resources: tuple[str, ...]
    created_at: int
    expires_at: int
    # RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (dpop_jkt, or a proof at /par).
    dpop_jkt: str | None = None


@dataclass(frozen=True)
class RefreshToken:
    token_hash: str
    grant_id: str
    client_id: str
    user_id: str
    scope: str
    sid: str
    # With offline_access the family outlives the browser session; without it, it ends with it.
    offline: bool
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    claims: dict[str, Any] | None
    resources: tuple[str, ...]
    created_at: int
    expires_at: int
    idle_expires_at: int
    used_at: int | None = None
    revoked_at: int | None = None
    # RFC 9449 §5: a public client's refresh token works only with proofs of this key (RFC 7638 thumbprint).
    dpop_jkt: str | None = None


@dataclass(frozen=True)
class DeviceCode:
    """RFC 8628 §3.2: a device's pending authorization, found by device code (hashed) or user code."""

    device_code_hash: str
    user_code: str  # normalised: 8 letters, no dash
    client_id: str
    scope: str
    resources: tuple[str, ...]
    status: DeviceStatus
    interval: int
    created_at: int
    expires_at: int
    user_id: str | None = None
    auth_time: int | None = None
    amr: tuple[str, ...] | None = None
    acr: str | None = None
    sid: str | None = None
    consumed_at: int | None = None
    # The acr_values the device asked for (only values this server knows: ACR_PASSWORD, ACR_MFA).
    acr_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class TotpFactor:
    user_id: str
    secret_enc: str = field(repr=False)
    created_at: int
    confirmed_at: int | None = None
    last_step: int | None = None


@dataclass(frozen=True)
class AuditEvent:
    id: int
    ts: int
    event: str
    user_id: str | None
    client_id: str | None
    ip: str | None
    user_agent: str | None
    data: dict[str, Any]


OUTBOX_PENDING: Final = "pending"
OUTBOX_SENT: Final = "sent"
OUTBOX_FAILED: Final = "failed"


@dataclass(frozen=True)
class OutboxMessage:
    """Work for the outside world (an email, later a back-channel call), stored in the same transaction
    as what caused it and delivered by the background loop (jobs/outbox.py)."""

    id: str
    kind: str
    destination: str
    summary: str
    # Sealed JSON (security/crypto.Sealer): it may carry single-use links. Emptied once delivered.
    payload: str = field(repr=False)
    created_at: int
    status: OutboxStatus = OUTBOX_PENDING
    attempts: int = 0
    next_attempt_at: int = 0
    last_error: str | None = None
    sent_at: int | None = None


@dataclass(frozen=True)
class AccountLink:
    """A single-use link sent by email (verify an address, reset a password, confirm a new address)."""

    token_hash: str
    user_id: str
    purpose: str
    email: str
    created_at: int
    expires_at: int
    used_at: int | None = None


@dataclass(frozen=True)
class Revocation:
    """A denylist entry kept until it can no longer matter: a revoked access token's `jti`, a revoked
    grant (every access token carrying its `gid`), or a used single-use value (a client assertion's `jti`)."""

    kind: RevocationKind
    value: str
    reason: str
    created_at: int
    expires_at: int


def device_grant_id(device_code_hash: str) -> str:
    """The grant id of the tokens a device code was exchanged for: derived from the code's row, so the
    grant can be found (and revoked) even when no refresh token records it."""
    return hashlib.sha256(b"device-grant:" + device_code_hash.encode("ascii")).hexdigest()[:32]


@dataclass(frozen=True)
class Passkey:
    """A WebAuthn credential (W3C WebAuthn L3 §4 "public key credential source", the server's half).

    `credential_id` is base64url (no padding), as browsers send it; `public_key` the COSE key bytes."""

    credential_id: str
    user_id: str
    public_key: bytes = field(repr=False)
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    # The BE flag (§6.1): the credential may be synced to other devices (a "multi-device" passkey);
    # fixed at registration. BS: it is backed up now.
    backup_eligible: bool
    backed_up: bool
    name: str
    created_at: int
    last_used_at: int | None = None

    @property
    def synced(self) -> bool:
        return self.backup_eligible


UPSTREAM_OIDC = "oidc"
UPSTREAM_OAUTH2 = "oauth2"


@dataclass(frozen=True)
class Upstream:
    """Another identity provider users may sign in with ("Continue with NAME"): an OpenID Connect provider
    configured from its discovery document, or a plain OAuth 2.0 provider with explicit endpoints whose
    user-info answer is read through `claim_map`. Its client secret is sealed (security/crypto.Sealer)."""

    name: str  # a slug: the path of its redirect URI, /login/upstream/NAME/callback
    display_name: str
    kind: str  # UPSTREAM_OIDC | UPSTREAM_OAUTH2
    issuer: str  # OIDC: the `iss` of its ID tokens; OAuth 2.0: its RFC 9207 `iss`, if any ("" otherwise)
    client_id: str
    client_secret_enc: str = field(repr=False)
    scopes: tuple[str, ...]
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    # Signature algorithms accepted on its ID tokens (its id_token_signing_alg_values_supported, asymmetric only).
    id_token_algs: tuple[str, ...] = ()
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105 - a protocol name, not a secret
    # RFC 9207 authorization_response_iss_parameter_supported: every answer must then carry `iss`.
    iss_parameter_supported: bool = False
    # OAuth 2.0 upstreams: our claim name -> the field of its user-info answer (sub, email, email_verified,
    # name, preferred_username); `emails_endpoint` lists addresses with their verification (GitHub).
    claim_map: dict[str, str] = field(default_factory=dict)
    emails_endpoint: str | None = None
    # A first sign-in may create an account (False: --no-signup), or join the local account with the same
    # address when the upstream asserts it verified it (--link-by-email).
    signup: bool = True
    link_by_email: bool = False
    # Its sign-ins count as multi-factor when it says so (amr "mfa", or one of mfa_acr_values).
    trust_mfa: bool = False
    mfa_acr_values: tuple[str, ...] = ()
    preset: str | None = None
    created_at: int = 0


@dataclass(frozen=True)
class UpstreamIdentity:
    """A user's account at an upstream (its `sub`), linked to a local account."""

    upstream: str
    subject: str
    user_id: str
    email: str | None
    created_at: int
    last_used_at: int | None = None
