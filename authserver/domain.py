"""Frozen domain records shared by the store, the protocol layer and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

AUTH_METHODS_WITH_SECRET = ("client_secret_basic", "client_secret_post")
AUTH_METHODS = (*AUTH_METHODS_WITH_SECRET, "private_key_jwt", "none")

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# The grants this server implements; a client can be registered only for these.
GRANT_TYPES = (GRANT_CLIENT_CREDENTIALS,)


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
    jwks: dict | None = None
    secret_hash: str | None = field(default=None, repr=False)
    first_party: bool = False
    disabled: bool = False
    created_at: int = 0

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


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


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict
    private_key_enc: str = field(repr=False)
    created_at: int
    # When it starts signing; before then it is only published (RFC 7517 key rollover).
    activates_at: int
