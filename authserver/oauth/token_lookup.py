"""What a presented token is, and how to revoke it (RFC 7662, RFC 7009, RFC 9700 §4.14).

Access tokens are JWTs: revoking one denies its `jti` until it would have expired. Tokens of a user
grant carry the grant id (`gid`); revoking the grant (refresh-token reuse, code replay, logout, a
password change) revokes its refresh tokens in the database and denies the whole grant's access
tokens for one access-token lifetime. Denials live in the database and the shared cache
(revocations.Denylist), so an emptied cache forgets none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from authlib.oauth2.rfc6749 import ClientMixin

from authserver.audit import Events
from authserver.clock import Clock
from authserver.domain import Client, RefreshToken, User
from authserver.oauth.tokens import AccessToken, TokenIssuer
from authserver.revocations import JTI, Denylist, revoke_user_grants
from authserver.security.secrets import token_hash
from authserver.store import RefreshTokenStore

TokenKind = Literal["access_token", "refresh_token"]  # RFC 7009 §2.1 token_type_hint values


@dataclass(frozen=True)
class FoundToken:
    """authlib's token interface over either kind of token."""

    kind: TokenKind
    client_id: str
    expires_at: int
    revoked: bool
    claims: dict[str, Any]
    now: float  # when it was looked up: the one instant its expiry is judged at
    access: AccessToken | None = None
    refresh: RefreshToken | None = None

    def check_client(self, client: ClientMixin) -> bool:
        return self.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return self.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.revoked


class TokenLookup:
    def __init__(
        self,
        issuer: TokenIssuer,
        denylist: Denylist,
        find_client: Callable[[str], Client | None],
        refresh_tokens: RefreshTokenStore,
        events: Events,
        find_user: Callable[[str], User | None],
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.find_user = find_user
        self.issuer = issuer
        self.denylist = denylist
        self.find_client = find_client
        self.refresh_tokens = refresh_tokens
        self.events = events

    def find(
        self, value: str, hint: str | None = None, *, prefetched: dict[str, str | None] | None = None
    ) -> FoundToken | None:
        """`prefetched`: the token's denylist entries, read ahead on the event loop (Denylist.keys)."""
        # RFC 7009 §2.1 / RFC 7662 §2.1: the hint orders the search, it never limits it.
        if hint == "refresh_token":
            return self._refresh(value) or self._access(value, prefetched)
        return self._access(value, prefetched) or self._refresh(value)

    def access_token_active(self, access: AccessToken, prefetched: dict[str, str | None] | None = None) -> bool:
        gid = access.claims.get("gid")
        if self.denylist.is_denied(access.jti, gid if isinstance(gid, str) else None, prefetched=prefetched):
            return False
        # Deleting or disabling a client ends its tokens too.
        client = self.find_client(access.client_id)
        return client is not None and not client.disabled

    def _access(self, value: str, prefetched: dict[str, str | None] | None = None) -> FoundToken | None:
        if value.count(".") != 2:
            return None
        access = self.issuer.verify_access_token(value)
        if access is None:
            return None
        active = self.access_token_active(access, prefetched)
        if active and access.claims.get("gid"):
            # A user's token (it carries its grant): never active for a disabled or deleted user, even
            # before the revocation that disabling made has reached this worker.
            user = self.find_user(str(access.claims.get("sub")))
            active = user is not None and not user.disabled
        return FoundToken(
            "access_token",
            access.client_id,
            access.expires_at,
            not active,
            access.claims,
            self.clock(),
            access=access,
        )

    def _refresh(self, value: str) -> FoundToken | None:
        if value.count(".") == 2 or len(value) > 200:
            return None
        record = self.refresh_tokens.get_refresh_token(token_hash(value))
        if record is None:
            return None
        now = self.clock()
        client = self.find_client(record.client_id)
        user = self.find_user(record.user_id)
        inactive = (
            user is None
            or user.disabled
            or record.revoked_at is not None
            or record.used_at is not None
            or record.idle_expires_at <= now
            or client is None
            or client.disabled
        )
        claims = {
            "scope": record.scope,
            "client_id": record.client_id,
            "sub": record.user_id,
            "exp": record.expires_at,
            "iat": record.created_at,
            "iss": self.issuer.issuer,
        }
        return FoundToken("refresh_token", record.client_id, record.expires_at, inactive, claims, now, refresh=record)

    def revoke(self, found: FoundToken) -> None:
        if found.refresh is not None:
            # RFC 7009 §2.1: revoking a refresh token also invalidates the grant's access tokens.
            self.revoke_grant(found.refresh.grant_id, reason="revoked")
            return
        if found.access is None:  # a FoundToken is a refresh token (above) or an access token: not reachable
            raise ValueError("nothing to revoke")
        entry = self.denylist.entry(JTI, found.access.jti, reason="revoked", expires_at=found.expires_at + 5)
        self.denylist.revoke([entry])
        self.events.emit("token.revoked", client_id=found.client_id, jti=found.access.jti, kind="access_token")

    def revoke_grant(self, grant_id: str, *, reason: str) -> None:
        self.refresh_tokens.revoke_grant(grant_id, int(self.clock()))
        self.deny_grants([grant_id], reason=reason)

    def deny_grants(self, grant_ids: list[str], *, reason: str) -> None:
        """Deny the access tokens of grants whose refresh tokens the store has already revoked."""
        self.denylist.deny_grants(grant_ids, reason=reason, access_ttl=self.issuer.access_ttl)
        for grant_id in grant_ids:
            self.events.emit("grant.revoked", grant_id=grant_id, reason=reason)

    def revoke_user_grants(self, user_id: str, *, reason: str) -> int:
        """Every refresh-token family of the user and the access tokens issued under them; how many grants."""
        grants = revoke_user_grants(
            self.refresh_tokens, self.denylist, user_id, reason=reason, access_ttl=self.issuer.access_ttl
        )
        for grant_id in grants:
            self.events.emit("grant.revoked", grant_id=grant_id, user_id=user_id, reason=reason)
        return len(grants)
