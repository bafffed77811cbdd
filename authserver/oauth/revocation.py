"""RFC 7009 token revocation."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation

from authserver.domain import AUTH_METHODS
from authserver.oauth.models import OAuthClient
from authserver.oauth.requests import OAuthRequest
from authserver.oauth.token_lookup import FoundToken


class RevocationEndpoint(_Revocation):
    # RFC 7009 §2.1: public clients revoke their own tokens by client_id (e.g. at app logout).
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def check_params(self, request: OAuthRequest, client: OAuthClient) -> None:
        # RFC 7009 §2.1: a hint the server does not understand only widens the search.
        if not request.form.get("token"):
            raise InvalidRequestError("The 'token' parameter is required")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        found: FoundToken | None = self.server.tokens.find(token_string, token_type_hint)
        return found

    def revoke_token(self, token: FoundToken, request: OAuthRequest) -> None:
        if not token.is_revoked():
            self.server.tokens.revoke(token)
