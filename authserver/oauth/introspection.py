"""RFC 7662 token introspection: for the token's own client and the resource servers of its audience."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection

from authserver.domain import CONFIDENTIAL_AUTH_METHODS
from authserver.oauth.models import OAuthClient
from authserver.oauth.requests import OAuthRequest
from authserver.oauth.token_lookup import FoundToken

_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "username", "cnf")


class IntrospectionEndpoint(_Introspection):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def check_params(self, request: OAuthRequest, client: OAuthClient) -> None:
        # RFC 7662 §2.1: an unknown token_type_hint is not an error; the server searches all types.
        if not request.form.get("token"):
            raise InvalidRequestError("The 'token' parameter is required")

    def authenticate_token(self, request: OAuthRequest, client: OAuthClient) -> FoundToken | None:
        self.check_params(request, client)
        found: FoundToken | None = self.server.tokens.find(
            request.form["token"], request.form.get("token_type_hint"), prefetched=request.denylist
        )
        if found is not None and self.check_permission(found, client, request):
            return found
        return None

    def check_permission(self, token: FoundToken, client: OAuthClient, request: OAuthRequest) -> bool:
        # RFC 7662 §4: the server decides who may learn what about a token, or introspection becomes an
        # oracle for every client. Its own client may; a refresh token concerns no one else. An access
        # token may also be introspected by a client registered (--introspect) as a resource server
        # for one of its audiences. Anyone else is told {"active": false}, like for an unknown token.
        if token.check_client(client):
            return True
        if token.kind != "access_token":
            return False
        aud = token.claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        return bool(audiences & set(client.record.introspect_audiences))

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        claims = token.claims
        kind = "refresh_token"
        if token.kind == "access_token":
            # RFC 9449 §6.2: a DPoP-bound token introspects as token_type DPoP with its cnf.jkt.
            kind = "DPoP" if isinstance(claims.get("cnf"), dict) else "Bearer"
        body = {"active": True, "token_type": kind}
        body.update({k: claims[k] for k in _CLAIMS if k in claims})
        return body
