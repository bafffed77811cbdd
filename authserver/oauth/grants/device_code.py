"""RFC 8628 §3.4-3.5: the device polls the token endpoint until the user decides.

Poll pacing lives in the shared cache: a gate key that exists for `interval` seconds after each
poll (SET NX, atomic in Redis), and the client's current interval, raised by 5 s on each slow_down.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants.base import BaseGrant, TokenEndpointMixin
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError, ExpiredTokenError, SlowDownError

from authserver.domain import AUTH_METHODS, GRANT_DEVICE_CODE, device_grant_id
from authserver.oauth.grants.dpop_binding import proof_key, refresh_binding
from authserver.oauth.grants.user_tokens import GrantContext, new_refresh_token, token_response, wants_refresh_token
from authserver.oauth.models import GrantResponse, authenticated
from authserver.oauth.requests import OAuthRequest
from authserver.security.secrets import token_hash

GATE = "device-gate:"
INTERVAL = "device-interval:"


class DeviceCodeGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = GRANT_DEVICE_CODE
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    request: OAuthRequest

    def validate_token_request(self) -> None:
        client = authenticated(self.authenticate_token_endpoint_client())
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use the device_code grant")
        self.jkt = proof_key(self.request, client.record)
        value = self.request.form.get("device_code")
        if not value:
            raise InvalidRequestError("The 'device_code' parameter is required")
        code_hash = token_hash(value)
        record = self.server.store.get_device_code(code_hash) if len(value) <= 200 else None
        if record is None or record.client_id != client.client_id:
            raise InvalidGrantError("The device code is invalid")
        if record.consumed_at is not None:
            raise InvalidGrantError("The device code has already been used")
        # One instant for the whole redemption: the expiry check, the spending and the tokens' times.
        self.now = now = int(self.server.clock())
        if record.expires_at <= now:
            raise ExpiredTokenError("The device code has expired")
        self._pace(code_hash, record.interval, record.expires_at - now)
        if record.status == "denied":
            raise AccessDeniedError("The user denied the request")
        if record.status != "approved":
            raise AuthorizationPendingError("The user has not approved the request yet")
        user = self.server.store.get_user(record.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The user can no longer sign in")
        self.request.client = client
        self.record = record
        self.user = user

    def _pace(self, code_hash: str, initial: int, remaining: float) -> None:
        cache = self.server.cache
        ttl = remaining + 60
        interval = int(cache.get(INTERVAL + code_hash) or initial)
        if not cache.add(GATE + code_hash, "1", interval):
            # §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests".
            interval += 5
            cache.set(INTERVAL + code_hash, str(interval), ttl)
            cache.set(GATE + code_hash, "1", interval)
            raise SlowDownError(f"Polling too fast; wait {interval} seconds between requests")

    # authlib's grants hand handle_response a dict body; the stubs call it a str.
    def create_token_response(self) -> GrantResponse:  # type: ignore[override]
        record, user = self.record, self.user
        client = authenticated(self.request.client).record
        if not self.server.store.consume_device_code(record.device_code_hash, self.now):
            raise InvalidGrantError("The device code has already been used")
        ctx = GrantContext(
            grant_id=device_grant_id(record.device_code_hash),
            scope=record.scope,
            sid=record.sid or "",
            auth_time=record.auth_time or 0,
            amr=record.amr or (),
            acr=record.acr or "",
            claims=None,
            resources=record.resources,
        )
        refresh_value = None
        if wants_refresh_token(client):
            issued = self.now
            settings = self.server.settings
            # The device has no browser session: its tokens must not end when the phone that
            # approved it signs out, so they are offline whatever the scope.
            refresh_value, refresh = new_refresh_token(
                ctx,
                client,
                user,
                expires_at=issued + settings.refresh_token_ttl,
                idle_ttl=settings.refresh_token_idle_ttl,
                now=issued,
                offline=True,
                dpop_jkt=refresh_binding(client, self.jkt),
            )
            self.server.store.add_refresh_token(refresh)
        body = token_response(
            self.server, ctx, client, user, scope=record.scope, refresh_token=refresh_value, jkt=self.jkt
        )
        self.server.events.emit("device_code.redeemed", client_id=client.client_id, user_id=user.id)
        return 200, body, self.TOKEN_RESPONSE_HEADER
