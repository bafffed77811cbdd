"""Find what a presented token is, for introspection and revocation (RFC 7662 / RFC 7009)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from authserver.cache import Cache
from authserver.domain import Client
from authserver.oauth.tokens import AccessToken, TokenIssuer

REVOKED_PREFIX = "revoked-jti:"


@dataclass(frozen=True)
class FoundToken:
    """authlib's token interface over a verified access token."""

    token: AccessToken
    revoked: bool

    def check_client(self, client) -> bool:  # type: ignore[no-untyped-def]
        return self.token.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return self.token.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked


class TokenLookup:
    def __init__(self, issuer: TokenIssuer, cache: Cache, find_client: Callable[[str], Client | None]) -> None:
        self.issuer = issuer
        self.cache = cache
        self.find_client = find_client

    def find(self, value: str) -> FoundToken | None:
        access = self.issuer.verify_access_token(value)
        if access is None:
            return None
        revoked = self.cache.get(REVOKED_PREFIX + access.jti) is not None
        if not revoked:
            # Deleting or disabling a client ends its tokens too.
            client = self.find_client(access.client_id)
            revoked = client is None or client.disabled
        return FoundToken(access, revoked)

    def revoke(self, found: FoundToken) -> None:
        # A JWT cannot be recalled, so its jti is denied until it would have expired anyway;
        # the denylist lives in the shared cache that every worker and node reads.
        ttl = found.token.expires_at - time.time() + 5
        if ttl > 0:
            self.cache.set(REVOKED_PREFIX + found.token.jti, "1", ttl)
