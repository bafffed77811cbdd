"""RSA signing keys: generation, stable `kid`s (RFC 7638 thumbprints), JWK export."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

ALG = "RS256"


def generate_rsa(bits: int) -> tuple[str, dict[str, Any], bytes]:
    """Return (kid, public JWK, private key PEM)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = RSAKey.import_key(pem)
    kid = key.thumbprint()
    public = key.as_dict(private=False)
    public.update({"kid": kid, "use": "sig", "alg": ALG})
    return kid, public, pem


def load_private(pem: bytes, kid: str) -> RSAKey:
    return RSAKey.import_key(pem, parameters={"kid": kid, "use": "sig", "alg": ALG})


def load_public(jwk: dict[str, Any]) -> RSAKey:
    return RSAKey.import_key(jwk)
