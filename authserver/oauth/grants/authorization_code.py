"""RFC 6749 §4.1.3 code exchange with PKCE (RFC 7636 §4.5-4.6) and replay punishment.

A code is single-use: the store marks it used atomically. Presenting it again revokes every token
issued from it (RFC 6749 §4.1.2: "SHOULD revoke all tokens previously issued based on that code").
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc6749.grants.base import BaseGrant, TokenEndpointMixin

from authserver.domain import AUTH_METHODS, GRANT_AUTHORIZATION_CODE
from authserver.oauth import pkce
from authserver.oauth.grants.dpop_binding import check_binding, proof_key, refresh_binding
from authserver.oauth.grants.user_tokens import (
    GrantContext,
    new_refresh_token,
    token_response,
    wants_refresh_token,
)
from authserver.oauth.models import GrantResponse, authenticated
from authserver.oauth.requests import OAuthRequest
from authserver.security.secrets import token_hash


class AuthorizationCodeGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = GRANT_AUTHORIZATION_CODE
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    request: OAuthRequest

    def validate_token_request(self) -> None:
        client = authenticated(self.authenticate_token_endpoint_client())
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use the authorization_code grant")
        self.jkt = proof_key(self.request, client.record)
        form = self.request.form
        code = form.get("code")
        if not code:
            raise InvalidRequestError("The 'code' parameter is required")
        store = self.server.store
        # One instant for the whole redemption: the expiry check, the spending and the tokens' times.
        self.now = now = int(self.server.clock())
        found = store.get_code(token_hash(code)) if len(code) <= 200 else None
        if found is None:
            raise InvalidGrantError("The authorization code is invalid")
        record, used = found
        if record.client_id != client.client_id:
            # Checked before the replay rule, so another client holding a leaked code cannot use
            # it to revoke the rightful client's grant.
            raise InvalidGrantError("The authorization code was issued to another client")
        if used:
            self.server.tokens.revoke_grant(record.grant_id, reason="code_replayed")
            raise InvalidGrantError("The authorization code has already been used")
        if record.expires_at <= now:
            raise InvalidGrantError("The authorization code has expired")
        check_binding(record.dpop_jkt, self.jkt, "authorization code")
        if form.get("redirect_uri") != record.redirect_uri:
            raise InvalidGrantError("redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier")
        if record.code_challenge:
            if not verifier:
                raise InvalidGrantError("code_verifier is required")
            if not pkce.verify(verifier, record.code_challenge):
                # A wrong verifier spends the code: whoever holds it without the verifier gets no retries.
                store.consume_code(record.code_hash, now)
                raise InvalidGrantError("code_verifier does not match the code_challenge")
        elif verifier:
            # RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
            raise InvalidGrantError("code_verifier sent for a code issued without code_challenge")
        user = store.get_user(record.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The user can no longer sign in")
        self.request.client = client
        self.record = record
        self.user = user

    # authlib's grants hand handle_response a dict body; the stubs call it a str.
    def create_token_response(self) -> GrantResponse:  # type: ignore[override]
        record, user = self.record, self.user
        client = authenticated(self.request.client).record
        settings = self.server.settings
        ctx = GrantContext.of(record)
        refresh_value, refresh = None, None
        issued = self.now
        if wants_refresh_token(client):
            refresh_value, refresh = new_refresh_token(
                ctx,
                client,
                user,
                expires_at=issued + settings.refresh_token_ttl,
                idle_ttl=settings.refresh_token_idle_ttl,
                now=issued,
                dpop_jkt=refresh_binding(client, self.jkt),
            )
        # Spending the code and storing its refresh token is one transaction: a failure in between
        # leaves the code redeemable, and of concurrent redemptions exactly one wins.
        if not self.server.store.redeem_code(record.code_hash, issued, refresh):
            self.server.tokens.revoke_grant(record.grant_id, reason="code_replayed")
            raise InvalidGrantError("The authorization code has already been used")
        body = token_response(
            self.server,
            ctx,
            client,
            user,
            scope=record.scope,
            nonce=record.nonce,
            refresh_token=refresh_value,
            jkt=self.jkt,
        )
        self.server.events.emit(
            "authorization_code.redeemed", client_id=client.client_id, user_id=user.id, grant_id=record.grant_id
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER
