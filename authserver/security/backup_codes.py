"""One-time backup codes: 10 per enrolment, shown once, stored as keyed hashes (never in clear)."""

from __future__ import annotations

import secrets

from authserver.security.secrets import SecretHasher

COUNT = 10
# 10 characters from 32 unambiguous symbols: 50 bits each, typed as xxxxx-xxxxx.
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def generate() -> list[str]:
    codes = []
    for _ in range(COUNT):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise(entered: str) -> str | None:
    cleaned = "".join(ch for ch in entered.lower() if ch not in "- \t")
    if len(cleaned) != 10 or any(ch not in _ALPHABET for ch in cleaned):
        return None
    return cleaned


def hash_code(hasher: SecretHasher, code: str) -> str:
    return hasher.hash("backup:" + code)
