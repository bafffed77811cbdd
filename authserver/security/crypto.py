"""Encryption at rest (AES-256-GCM) for signing keys and, later, TOTP secrets."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from authserver.security.derive import derive_key


class DecryptionError(Exception):
    """The ciphertext was not made with this secret key (or was altered)."""


class Sealer:
    def __init__(self, server_secret: bytes, purpose: str) -> None:
        self._aead = AESGCM(derive_key(server_secret, f"seal:{purpose}"))

    def seal(self, plaintext: bytes, context: str) -> str:
        # `context` is bound as associated data: a ciphertext moved to another row fails to open.
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str, context: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("cannot decrypt: wrong AUTHSERVER_SECRET_KEY or altered data") from exc
