"""RFC 6749 §4.4 client credentials, issuing RFC 9068 access tokens with RFC 8707 audiences."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError

from authserver.domain import CONFIDENTIAL_AUTH_METHODS
from authserver.oauth import scopes
from authserver.oauth.grants.dpop_binding import proof_key, token_type
from authserver.oauth.models import GrantResponse, authenticated
from authserver.oauth.requests import OAuthRequest


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS
    request: OAuthRequest

    def validate_token_request(self) -> None:
        client = authenticated(self.authenticate_token_endpoint_client())
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use the client_credentials grant")
        self.jkt = proof_key(self.request, client.record)
        self.request.client = client
        self.scope = scopes.granted_scope(client.record, self.request.payload.scope)
        self.audience = scopes.audience(client.record, self.request.payload.datalist.get("resource", []))

    # authlib's grants hand handle_response a dict body; the stubs call it a str.
    def create_token_response(self) -> GrantResponse:  # type: ignore[override]
        # authlib's version logs the issued token at debug level; this one never logs it.
        record = authenticated(self.request.client).record
        token, claims = self.server.issuer.issue_access_token(
            client_id=record.client_id,
            subject=record.client_id,
            scope=self.scope,
            audience=self.audience,
            extra={"cnf": {"jkt": self.jkt}} if self.jkt else None,
        )
        body = {
            "access_token": token,
            "token_type": token_type(self.jkt),
            "expires_in": claims["exp"] - claims["iat"],
        }
        if self.scope:
            body["scope"] = self.scope
        return 200, body, self.TOKEN_RESPONSE_HEADER
