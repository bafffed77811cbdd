"""Dynamic client registration (RFC 7591) and its management (RFC 7592): the initial access tokens that
open it, and the registration access tokens that manage a registered client. Both are random values
stored only as SHA-256 hashes (they carry 256 bits: no salt or slow hash is needed)."""

from __future__ import annotations

import hashlib
import secrets
import time

from authserver.manage.errors import Invalid
from authserver.store import RegistrationStore

MAX_USES = 1_000_000
MAX_EXPIRES_IN = 366 * 86400


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def issue_token(store: RegistrationStore, *, uses: int, expires_in: int) -> tuple[str, int | None]:
    """An initial access token (uses 0: unlimited; expires_in 0: never), and when it expires."""
    if not 0 <= uses <= MAX_USES:
        raise Invalid("{uses} must be between 0 and " + str(MAX_USES), field="uses")
    if not 0 <= expires_in <= MAX_EXPIRES_IN:
        raise Invalid("{expires_in} must be between 0 and " + str(MAX_EXPIRES_IN) + " seconds", field="expires_in")
    now = int(time.time())
    token = new_token()
    expires_at = now + expires_in if expires_in else None
    store.add_registration_token(token_hash(token), uses=uses or None, expires_at=expires_at, created_at=now)
    return token, expires_at
