"""PKCE (RFC 7636) with S256 only: `plain` offers no protection once the request leaks (RFC 9700 §2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
# §4.2: S256 challenge = BASE64URL(SHA256(verifier)), 43 characters without padding.
CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def verify(verifier: str, challenge: str) -> bool:
    # §4.6: the server recomputes the challenge from the verifier and compares.
    if not VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)
