"""Links sent by email (verify an address, reset a password, confirm a new address): 256-bit random
tokens, stored as their SHA-256, single use, expiring, and superseded by a newer link of the same kind.

A link only opens a page; the change itself is a POST from that page (with its CSRF token), so mail
scanners that fetch every link in a message cannot use one up.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from authserver.domain import AccountLink
from authserver.security.secrets import token_hash

VERIFY = "verify"
RESET = "reset"
EMAIL_CHANGE = "email_change"
MAX_TOKEN = 100


def new_link(user_id: str, purpose: str, email: str, ttl: int, now: int) -> tuple[str, AccountLink]:
    """(the token for the URL, the record to store)."""
    token = secrets.token_urlsafe(32)
    return token, AccountLink(
        token_hash=token_hash(token),
        user_id=user_id,
        purpose=purpose,
        email=email,
        created_at=now,
        expires_at=now + ttl,
    )


def url(issuer: str, path: str, token: str) -> str:
    return f"{issuer}{path}?{urlencode({'token': token})}"


def hashed(token: str | None) -> str | None:
    """The stored hash of a token from a request, or None for anything that cannot be one."""
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        return None
    return token_hash(token)


def live(link: AccountLink | None, purpose: str, now: int) -> bool:
    return link is not None and link.purpose == purpose and link.used_at is None and link.expires_at > now
