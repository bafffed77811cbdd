"""authlib's AuthorizationServer bound to our stores; the protocol core returns (status, body, headers).

authlib's permissive defaults are overridden here or in the grants: no 10-day tokens (our issuer sets
lifetimes), no token logging, client auth in one strict pass, no default redirect URI.
"""

from __future__ import annotations

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error, UnsupportedGrantTypeError

from authserver.audit import Events
from authserver.cache import Cache
from authserver.oauth.client_auth import ClientAuthenticator
from authserver.oauth.device import device_authorization
from authserver.oauth.grants.authorization_code import AuthorizationCodeGrant
from authserver.oauth.grants.client_credentials import ClientCredentialsGrant
from authserver.oauth.grants.device_code import DeviceCodeGrant
from authserver.oauth.grants.refresh_token import RefreshTokenGrant
from authserver.oauth.introspection import IntrospectionEndpoint
from authserver.oauth.models import OAuthClient
from authserver.oauth.requests import OAuthRequest
from authserver.oauth.revocation import RevocationEndpoint
from authserver.oauth.token_lookup import TokenLookup
from authserver.oauth.tokens import IdTokens, TokenIssuer
from authserver.ratelimit import RateLimiter
from authserver.settings import Settings
from authserver.store import Store

Response = tuple[int, dict, list[tuple[str, str]]]


class AuthorizationServer(_AuthorizationServer):
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        cache: Cache,
        limits: RateLimiter,
        authenticator: ClientAuthenticator,
        issuer: TokenIssuer,
        id_tokens: IdTokens,
        tokens: TokenLookup,
        events: Events,
    ) -> None:
        super().__init__(scopes_supported=None)
        self.settings = settings
        self.store = store
        self.cache = cache
        self.limits = limits
        self._authenticator = authenticator
        self.issuer = issuer
        self.id_tokens = id_tokens
        self.tokens = tokens
        self.events = events
        self.register_grant(AuthorizationCodeGrant)
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(DeviceCodeGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)

    @property
    def grant_types(self) -> list[str]:
        return [grant.GRANT_TYPE for grant, _ in self._token_grants]

    def query_client(self, client_id: str) -> OAuthClient | None:  # pragma: no cover - unused by design
        raise NotImplementedError("clients are found by ClientAuthenticator")

    def authenticate_client(self, request, methods, endpoint="token"):  # type: ignore[no-untyped-def]
        return self._authenticator(request, methods, endpoint)

    def save_token(self, token, request) -> None:  # type: ignore[no-untyped-def]
        # Access tokens are self-contained JWTs; nothing to store for them.
        return None

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        return request

    def handle_response(self, status, body, headers) -> Response:  # type: ignore[no-untyped-def]
        return status, dict(body) if not isinstance(body, dict) else body, list(headers)

    def send_signal(self, name, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        return None

    def token_response(self, request: OAuthRequest) -> Response:
        grant_type = request.payload.grant_type
        if not grant_type:
            return self.handle_error_response(request, InvalidRequestError("The 'grant_type' parameter is required"))
        if grant_type not in self.grant_types:
            error = UnsupportedGrantTypeError(grant_type)
            error.description = f"Unsupported grant_type; supported: {' '.join(self.grant_types)}"
            return self.handle_error_response(request, error)
        return self.create_token_response(request)

    def device_authorization_response(self, request: OAuthRequest) -> Response:
        try:
            return self.handle_response(*device_authorization(self, request))
        except OAuth2Error as error:
            return self.handle_error_response(request, error)

    def endpoint_response(self, name: str, request: OAuthRequest) -> Response:
        try:
            return self.create_endpoint_response(name, request)
        except OAuth2Error as error:  # raised outside authlib's own try (e.g. in authentication)
            return self.handle_error_response(request, error)
