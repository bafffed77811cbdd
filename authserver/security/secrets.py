"""Client secrets: generated with 256 bits of entropy, stored as a keyed hash, compared in constant time.

A password KDF (argon2) would cost ~100x per token request for no gain: a random 256-bit secret
cannot be brute-forced, so HMAC-SHA-256 under a server-side key is the right tool. The key lives
outside the database, so a stolen table alone does not let anyone check guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from authserver.security.derive import derive_key

_PREFIX = "hmac-sha256$"


class SecretHasher:
    def __init__(self, server_secret: bytes) -> None:
        self._key = derive_key(server_secret, "client-secret-hash")
        self._dummy = self.hash(secrets.token_urlsafe(32))

    @staticmethod
    def generate() -> str:
        return secrets.token_urlsafe(32)

    def hash(self, secret: str) -> str:
        digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return _PREFIX + digest

    def verify(self, secret: str, stored: str | None) -> bool:
        # Unknown clients are checked against a dummy so both paths do the same work.
        candidate = self.hash(secret)
        return hmac.compare_digest(candidate, stored or self._dummy) and stored is not None


def token_hash(value: str) -> str:
    """Codes, refresh tokens and session ids are 256-bit random values: SHA-256 suffices at rest."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
