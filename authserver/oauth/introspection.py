"""RFC 7662 token introspection for resource servers (any authenticated confidential client)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection

from authserver.oauth.grants.client_credentials import CONFIDENTIAL_METHODS
from authserver.oauth.token_lookup import FoundToken

_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "username")


class IntrospectionEndpoint(_Introspection):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def check_params(self, request, client) -> None:  # type: ignore[no-untyped-def]
        # RFC 7662 §2.1: an unknown token_type_hint is not an error; the server searches all types.
        if not request.form.get("token"):
            raise InvalidRequestError("The 'token' parameter is required")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return self.server.tokens.find(token_string)

    def check_permission(self, token, client, request) -> bool:  # type: ignore[no-untyped-def]
        # Every client here authenticated with a secret or key; RFC 7662 §4 lets the AS decide more.
        return True

    def introspect_token(self, token: FoundToken) -> dict:
        claims = token.token.claims
        body = {"active": True, "token_type": "Bearer"}
        body.update({k: claims[k] for k in _CLAIMS if k in claims})
        return body
