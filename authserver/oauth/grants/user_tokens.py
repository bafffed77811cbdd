"""Tokens for a signed-in user: RFC 9068 access token, OIDC ID token, rotating refresh token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authserver.domain import GRANT_REFRESH_TOKEN, AuthCode, Client, RefreshToken, User
from authserver.oauth import scopes as scope_rules
from authserver.oauth.claims import released_claims
from authserver.oauth.grants.dpop_binding import token_type
from authserver.security.secrets import token_hash

if TYPE_CHECKING:
    from authserver.oauth.server import AuthorizationServer


@dataclass(frozen=True)
class GrantContext:
    """What a code or refresh token carries from the original sign-in."""

    grant_id: str
    scope: str
    sid: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    claims: dict[str, Any] | None
    resources: tuple[str, ...]

    @classmethod
    def of(cls, record: AuthCode | RefreshToken) -> GrantContext:
        """The grant a code or a refresh token carries forward."""
        return cls(
            grant_id=record.grant_id,
            scope=record.scope,
            sid=record.sid,
            auth_time=record.auth_time,
            amr=record.amr,
            acr=record.acr,
            claims=record.claims,
            resources=record.resources,
        )


def new_refresh_token(
    ctx: GrantContext,
    client: Client,
    user: User,
    *,
    expires_at: int,
    idle_ttl: int,
    now: int,
    offline: bool | None = None,
    dpop_jkt: str | None = None,
) -> tuple[str, RefreshToken]:
    value = secrets.token_urlsafe(32)
    record = RefreshToken(
        token_hash=token_hash(value),
        grant_id=ctx.grant_id,
        client_id=client.client_id,
        user_id=user.id,
        scope=ctx.scope,
        sid=ctx.sid,
        offline=("offline_access" in ctx.scope.split()) if offline is None else offline,
        auth_time=ctx.auth_time,
        amr=ctx.amr,
        acr=ctx.acr,
        claims=ctx.claims,
        resources=ctx.resources,
        created_at=now,
        expires_at=expires_at,
        idle_expires_at=min(expires_at, now + idle_ttl),
        dpop_jkt=dpop_jkt,
    )
    return value, record


def wants_refresh_token(client: Client) -> bool:
    return GRANT_REFRESH_TOKEN in client.grant_types


def token_response(
    server: AuthorizationServer,
    ctx: GrantContext,
    client: Client,
    user: User,
    *,
    scope: str,
    nonce: str | None = None,
    refresh_token: str | None = None,
    jkt: str | None = None,
) -> dict[str, Any]:
    """Sign the access token (and ID token when `openid` was granted) for `scope`."""
    audience = scope_rules.audience(client, list(ctx.resources))
    # gid ties the token to its grant so revoking the grant (reuse, replay, logout) reaches it;
    # uic carries the claims the `claims` parameter asked /userinfo to return.
    extra: dict[str, Any] = {"gid": ctx.grant_id, "auth_time": ctx.auth_time, "acr": ctx.acr}
    if ctx.claims and ctx.claims.get("userinfo"):
        extra["uic"] = ctx.claims["userinfo"]
    if jkt:
        extra["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1: the token is bound to the proof's key
    access, claims = server.issuer.issue_access_token(
        client_id=client.client_id, subject=user.id, scope=scope, audience=audience, extra=extra
    )
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": token_type(jkt),
        "expires_in": claims["exp"] - claims["iat"],
        "scope": scope,
    }
    if "openid" in scope.split():
        requested = (ctx.claims or {}).get("id_token")
        body["id_token"] = server.id_tokens.issue(
            client_id=client.client_id,
            subject=user.id,
            auth_time=ctx.auth_time,
            acr=ctx.acr,
            amr=ctx.amr,
            sid=ctx.sid,
            nonce=nonce,
            access_token=access,
            # With response_type=code, scope claims go to userinfo; the claims parameter may ask
            # for some in the ID token too (OIDC Core §5.4, §5.5).
            extra=released_claims(user, scope, requested, by_scope=False) if requested else None,
        )
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body
