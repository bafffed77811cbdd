"""RFC 6749 §6 refresh with rotation and reuse detection (RFC 9700 §4.14.2).

Every refresh returns a new refresh token and marks the old one used, atomically. A used token
presented again means two parties hold the family: the whole grant is revoked, with its access tokens.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants.base import BaseGrant, TokenEndpointMixin

from authserver.domain import AUTH_METHODS, GRANT_REFRESH_TOKEN
from authserver.oauth.grants.dpop_binding import check_refresh_binding, proof_key, refresh_binding
from authserver.oauth.grants.user_tokens import GrantContext, new_refresh_token, token_response
from authserver.oauth.models import GrantResponse, authenticated
from authserver.oauth.requests import OAuthRequest
from authserver.security.secrets import token_hash


class RefreshTokenGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = GRANT_REFRESH_TOKEN
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    request: OAuthRequest

    def validate_token_request(self) -> None:
        client = authenticated(self.authenticate_token_endpoint_client())
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use the refresh_token grant")
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("The 'refresh_token' parameter is required")
        store = self.server.store
        record = store.get_refresh_token(token_hash(value)) if len(value) <= 200 else None
        if record is None or record.client_id != client.client_id:
            raise InvalidGrantError("The refresh token is invalid")
        self.jkt = proof_key(self.request, client.record)
        check_refresh_binding(record, self.jkt)
        if record.revoked_at is not None:
            raise InvalidGrantError("The refresh token has been revoked")
        if record.used_at is not None:
            self.server.tokens.revoke_grant(record.grant_id, reason="refresh_token_reused")
            raise InvalidGrantError("The refresh token has already been used")
        current = int(self.server.clock())
        if record.expires_at <= current or record.idle_expires_at <= current:
            raise InvalidGrantError("The refresh token has expired")
        if not record.offline:
            # Without offline_access the tokens live only as long as the browser session.
            session = store.get_session_by_sid(record.sid)
            idle = self.server.settings.session_idle_ttl
            if session is None or session.expires_at <= current or current - session.last_seen_at > idle:
                raise InvalidGrantError("The session this refresh token belongs to has ended")
        user = store.get_user(record.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The user can no longer sign in")
        granted = record.scope.split()
        requested = self.request.form.get("scope")
        if requested is not None:
            wanted = requested.split()
            # RFC 6749 §6: the new scope may only narrow the original grant.
            if not wanted or any(s not in granted for s in wanted):
                raise InvalidScopeError("The requested scope exceeds the original grant")
            self.scope = " ".join(dict.fromkeys(wanted))
        else:
            self.scope = record.scope
        self.request.client = client
        self.record = record
        self.user = user

    # authlib's grants hand handle_response a dict body; the stubs call it a str.
    def create_token_response(self) -> GrantResponse:  # type: ignore[override]
        record, user = self.record, self.user
        client = authenticated(self.request.client).record
        ctx = GrantContext.of(record)
        issued = int(self.server.clock())
        value, new = new_refresh_token(
            ctx,
            client,
            user,
            expires_at=record.expires_at,
            idle_ttl=self.server.settings.refresh_token_idle_ttl,
            now=issued,
            offline=record.offline,
            dpop_jkt=refresh_binding(client, self.jkt, record.dpop_jkt),
        )
        if not self.server.store.rotate_refresh_token(record.token_hash, new, issued):
            # Someone else used it between our read and our write: a reuse like any other.
            self.server.tokens.revoke_grant(record.grant_id, reason="refresh_token_reused")
            raise InvalidGrantError("The refresh token has already been used")
        # OIDC Core §12.2: a refreshed ID token keeps auth_time and carries no nonce.
        body = token_response(self.server, ctx, client, user, scope=self.scope, refresh_token=value, jkt=self.jkt)
        return 200, body, self.TOKEN_RESPONSE_HEADER
