"""A software authenticator for HTTP tests: what a browser plus a passkey provider send back.

Built by hand from the WebAuthn L3 structures (an EC P-256 key, clientDataJSON, authenticatorData, a
`none` attestation object in CBOR) so the server's parser (py_webauthn) is checked against an
independent encoder. Knobs make the bad cases: another origin or RP ID, a chosen counter, a flipped
signature byte, no user verification, a synced (backup-eligible) credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value: object) -> bytes:
    """The CBOR subset WebAuthn needs (RFC 8949 §3): integers, byte and text strings, arrays, maps."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        for extra, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if n < 1 << (8 * struct.calcsize(fmt)):
                return bytes([major << 5 | extra]) + struct.pack(fmt, n)
        raise ValueError(n)

    if isinstance(value, bool) or value is None:
        raise TypeError(value)
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return head(3, len(raw)) + raw
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(value)


@dataclass
class Credential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        # RFC 9053 §7.1.1: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
        return cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


class SoftAuthenticator:
    def __init__(self, origin: str, rp_id: str | None = None, *, uv: bool = True, synced: bool = False) -> None:
        self.origin = origin
        self.rp_id = rp_id or origin.split("//", 1)[1].split(":", 1)[0]
        self.uv = uv
        self.synced = synced
        self.credentials: dict[str, Credential] = {}

    def _flags(self, *extra: int) -> int:
        flags = UP | (UV if self.uv else 0) | (BE | BS if self.synced else 0)
        for f in extra:
            flags |= f
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def create(
        self, options: dict, *, origin: str | None = None, rp_id: str | None = None, challenge: str | None = None
    ) -> dict:
        """navigator.credentials.create() with these PublicKeyCredentialCreationOptionsJSON."""
        rp = rp_id or options["rp"].get("id") or self.rp_id
        credential = Credential(
            secrets.token_bytes(32), ec.generate_private_key(ec.SECP256R1()), unb64url(options["user"]["id"]), rp
        )
        self.credentials[credential.id] = credential
        attested = (
            bytes(16)  # AAGUID: none for a software authenticator
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_key()
        )
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([self._flags(AT)]) + struct.pack(">I", 0) + attested
        client_data = self._client_data("webauthn.create", challenge or options["challenge"], origin)
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict,
        *,
        credential_id: str | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        tamper: bool = False,
        user_handle: bytes | None = None,
    ) -> dict:
        """navigator.credentials.get(): an assertion by the first allowed credential (or `credential_id`)."""
        allowed = [d["id"] for d in options.get("allowCredentials") or []]
        cid = credential_id or next(c for c in self.credentials if not allowed or c in allowed)
        credential = self.credentials[cid]
        if sign_count is not None:
            credential.sign_count = sign_count
        elif not self.synced:
            credential.sign_count += 1
        rp = rp_id or options.get("rpId") or credential.rp_id
        auth_data = (
            hashlib.sha256(rp.encode()).digest() + bytes([self._flags()]) + struct.pack(">I", credential.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        if tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle if user_handle is not None else credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
