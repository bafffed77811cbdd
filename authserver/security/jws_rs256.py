"""Compact RS256 JWS (RFC 7515 §7.1, RFC 7518 §3.3) straight on `cryptography`: the hot path of
every token request and introspection.

A general JOSE library re-serializes the header, re-validates the key and walks its algorithm
registry on every call; here the header of each (key, typ) pair is encoded once, the private key
object is loaded once, and a verification checks the one algorithm we issue. Anything else (client
assertions, keys of other parties) goes through joserfc.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_B64URL = re.compile(rb"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(data: bytes) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): any other character is an error."""
    if not _B64URL.fullmatch(data) or len(data) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


class Signer:
    """Signs claims under one key and one protected header, encoded once."""

    def __init__(self, private_key: rsa.RSAPrivateKey, header: dict[str, Any]) -> None:
        self._key = private_key
        self._head = b64url(json.dumps(header, separators=(",", ":")).encode()) + b"."

    def sign(self, claims: dict[str, Any]) -> str:
        signing_input = self._head + b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        signature = self._key.sign(signing_input, _PKCS1, _SHA256)
        return (signing_input + b"." + b64url(signature)).decode("ascii")


def read_header(token: str) -> dict[str, Any] | None:
    """The protected header of a compact JWS, unverified; None when the token is malformed."""
    try:
        head, _, _ = token.encode("ascii").partition(b".")
        header = json.loads(b64url_decode(head))
    except (UnicodeEncodeError, ValueError, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def read_claims(token: str) -> dict[str, Any] | None:
    """The payload of a compact JWS as a JSON object, *unverified*; None when malformed."""
    try:
        parts = token.encode("ascii").split(b".")
        if len(parts) != 3:
            return None
        claims = json.loads(b64url_decode(parts[1]))
    except (UnicodeEncodeError, ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def verify(token: str, public_key: rsa.RSAPublicKey) -> dict[str, Any] | None:
    """The claims of an RS256 compact JWS whose signature `public_key` verifies, else None. The caller
    has already checked the header (alg, typ, kid) with read_header()."""
    try:
        raw = token.encode("ascii")
        signing_input, _, signature = raw.rpartition(b".")
        head, _, payload = signing_input.partition(b".")
        if not head or b"." in payload:
            return None
        public_key.verify(b64url_decode(signature), signing_input, _PKCS1, _SHA256)
        claims = json.loads(b64url_decode(payload))
    except (UnicodeEncodeError, ValueError, RecursionError, InvalidSignature, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None
