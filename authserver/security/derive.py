"""Purpose-bound subkeys of the one configured secret (HKDF, RFC 5869)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret: bytes, purpose: str, length: int = 32) -> bytes:
    # A distinct `info` per purpose: a leak of one subkey tells nothing about the others.
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(secret)
