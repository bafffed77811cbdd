"""authlib's AuthorizationServer bound to our stores; the protocol core returns (status, body, headers).

authlib's permissive defaults are overridden here or in the grants: no 10-day tokens (our issuer sets
lifetimes), no token logging, client auth in one strict pass, no default redirect URI.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error, UnsupportedGrantTypeError
from authlib.oauth2.rfc6749.requests import OAuth2Request

from authserver.audit import Events
from authserver.cache import Cache
from authserver.clock import Clock
from authserver.oauth.client_auth import ClientAuthenticator
from authserver.oauth.device import device_authorization
from authserver.oauth.dpop import DPoPError, DPoPNonces, DPoPProof, DPoPVerifier
from authserver.oauth.grants.authorization_code import AuthorizationCodeGrant
from authserver.oauth.grants.client_credentials import ClientCredentialsGrant
from authserver.oauth.grants.device_code import DeviceCodeGrant
from authserver.oauth.grants.refresh_token import RefreshTokenGrant
from authserver.oauth.introspection import IntrospectionEndpoint
from authserver.oauth.jar import RequestObjects
from authserver.oauth.models import OAuthClient
from authserver.oauth.par import PushedRequests
from authserver.oauth.pushed_authorization import pushed_authorization_response
from authserver.oauth.requests import OAuthRequest
from authserver.oauth.revocation import RevocationEndpoint
from authserver.oauth.token_lookup import TokenLookup
from authserver.oauth.tokens import IdTokens, TokenIssuer
from authserver.ratelimit import RateLimiter
from authserver.settings import Settings
from authserver.store import Store

Response = tuple[int, dict[str, Any], list[tuple[str, str]]]
# The client budget each endpoint spends (authlib names the token endpoint "token"; /par shares it).
CLIENT_LIMITS = {
    "token": "token",
    "pushed_authorization": "token",
    "introspection": "introspect",
    "revocation": "revoke",
    "device_authorization": "device_authorization",
}


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
        clock: Clock,
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
        self.clock = clock
        self.pushed_requests = PushedRequests(cache, clock)
        nonces = DPoPNonces(settings.secret_bytes(), clock) if settings.dpop_require_nonce else None
        self.dpop = DPoPVerifier(cache, nonces, settings.dpop_proof_max_age, clock)
        self.request_objects = RequestObjects(settings.issuer, cache, clock)
        self.register_grant(AuthorizationCodeGrant)
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(DeviceCodeGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)

    @property
    def grant_types(self) -> list[str]:
        grants = self._token_grants  # type: ignore[attr-defined]  # authlib's registry; the stubs omit it
        return [grant.GRANT_TYPE for grant, _ in grants]

    def query_client(self, client_id: str) -> OAuthClient:  # pragma: no cover - unused by design
        raise NotImplementedError("clients are found by ClientAuthenticator")

    # authlib only ever passes the OAuthRequest create_oauth2_request returned.
    def authenticate_client(  # type: ignore[override]
        self, request: OAuthRequest, methods: Collection[str], endpoint: str = "token"
    ) -> OAuthClient:
        client = self._authenticator(request, methods, endpoint)
        # Charged only now: a caller without the client's credentials spends its address's budget
        # (endpoints/protocol.py), never the client's.
        self.limits.hit_client(
            CLIENT_LIMITS[endpoint],
            client.record.client_id,
            authenticated=request.auth_method != "none",
            source=request.source,
        )
        return client

    def save_token(self, token: dict[str, str | int], request: OAuth2Request) -> None:
        # Access tokens are self-contained JWTs; nothing to store for them.
        return None

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        return request

    # authlib passes the headers as (name, value) pairs; the stubs call them a mapping.
    def handle_response(  # type: ignore[override]
        self, status: int, body: Mapping[str, Any], headers: Iterable[tuple[str, str]]
    ) -> Response:
        return status, dict(body) if not isinstance(body, dict) else body, list(headers)

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        return None

    def token_response(self, request: OAuthRequest) -> Response:
        grant_type = request.payload.grant_type
        if not grant_type:
            return self._error(request, InvalidRequestError("The 'grant_type' parameter is required"))
        if grant_type not in self.grant_types:
            error = UnsupportedGrantTypeError(grant_type)
            error.description = f"Unsupported grant_type; supported: {' '.join(self.grant_types)}"
            return self._error(request, error)
        if request.dpop_proofs:
            try:
                request.dpop = self.dpop_proof(request.dpop_proofs, "POST", self.settings.issuer + "/token")
            except DPoPError as exc:
                # RFC 9449 §5 / §8: 400 invalid_dpop_proof, or use_dpop_nonce with a nonce to retry with.
                return 400, {"error": exc.error, "error_description": exc.description}, self.dpop_nonce_header()
        # authlib returns what handle_response (above) made of the grant's answer.
        status, body, headers = cast(Response, self.create_token_response(request))
        if request.dpop is not None:
            headers = [*headers, *self.dpop_nonce_header()]
        return status, body, headers

    def dpop_proof(self, proofs: list[str], htm: str, htu: str, access_token: str | None = None) -> DPoPProof:
        if len(proofs) != 1:
            raise DPoPError("Send exactly one DPoP header")  # RFC 9449 §4.3 item 1
        return self.dpop.verify(proofs[0], htm=htm, htu=htu, access_token=access_token)

    def dpop_nonce_header(self) -> list[tuple[str, str]]:
        """The nonce to use next (RFC 9449 §8), when nonces are required."""
        return [("DPoP-Nonce", self.dpop.nonces.current())] if self.dpop.nonces else []

    def device_authorization_response(self, request: OAuthRequest) -> Response:
        try:
            return self.handle_response(*device_authorization(self, request))
        except OAuth2Error as error:
            return self._error(request, error)

    def pushed_authorization(self, request: OAuthRequest) -> Response:
        try:
            return pushed_authorization_response(self, request)
        except OAuth2Error as error:
            return self._error(request, error)

    def endpoint_response(self, name: str, request: OAuthRequest) -> Response:
        try:
            # The stubs leave this one unannotated; it returns what handle_response made.
            return cast(Response, self.create_endpoint_response(name, request))  # type: ignore[no-untyped-call]
        except OAuth2Error as error:  # raised outside authlib's own try (e.g. in authentication)
            return self._error(request, error)

    def _error(self, request: OAuthRequest, error: OAuth2Error) -> Response:
        # authlib renders the error through handle_response, so the answer is a Response.
        return cast(Response, self.handle_error_response(request, error))
