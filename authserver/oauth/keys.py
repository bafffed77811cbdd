"""RSA signing keys: generation, stable `kid`s (RFC 7638 thumbprints), JWK export; clients' public JWK Sets."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ALG = "RS256"

# What makes a new key pair: (bits) -> (kid, public JWK, private key PEM). generate_rsa, or what a test
# passes to create_app (generating RSA keys costs ~0.1 s each, and every test's app starts on an empty store).
KeyGenerator: TypeAlias = Callable[[int], tuple[str, dict[str, Any], bytes]]


def generate_rsa(bits: int) -> tuple[str, dict[str, Any], bytes]:
    """Return (kid, public JWK, private key PEM)."""
    while True:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key = RSAKey.import_key(private)  # the object itself: parsing the PEM again would re-check the key
        kid = key.thumbprint()
        # One thumbprint in 64 starts with "-", which a command line takes for an option
        # (`authserver keys retire -Ab3...`): such a key is discarded for another.
        if not kid.startswith("-"):
            break
    public = key.as_dict(private=False)
    public.update({"kid": kid, "use": "sig", "alg": ALG})
    return kid, public, pem


def load_private(pem: bytes, kid: str) -> RSAKey:
    """A key of our own store. Its PEM comes out of an authenticated seal (nobody could have altered it)
    and OpenSSL made it, so OpenSSL's consistency check of the RSA parameters, a primality test that
    costs ~50 ms per key each time a process first reads it, is skipped as cryptography allows for
    trusted keys."""
    private = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("the stored signing key is not an RSA key")
    return RSAKey.import_key(private, parameters={"kid": kid, "use": "sig", "alg": ALG})


def load_public(jwk: dict[str, Any]) -> RSAKey:
    return RSAKey.import_key(jwk)


class InvalidKeySet(ValueError):
    """A client's JWK Set we refuse; the message says why."""


def public_key_set(data: Any, what: str) -> dict[str, Any]:
    """A client's keys for private_key_jwt: public RSA (2048 bits or more) or EC keys, as a JWK Set.

    Raises InvalidKeySet naming `what` (where the keys came from)."""
    try:
        with warnings.catch_warnings():  # joserfc warns about weak keys; we refuse them instead
            warnings.simplefilter("ignore")
            keys = KeySet.import_key_set(data)
    except (ValueError, JoseError, TypeError, KeyError) as exc:
        raise InvalidKeySet(f"{what} is not a valid JWK Set: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not keys.keys:
        raise InvalidKeySet(f"{what} holds no keys")
    if any(key.is_private for key in keys):
        raise InvalidKeySet(f"{what} must hold public keys only")
    for key in keys:
        if key.key_type not in ("RSA", "EC"):
            raise InvalidKeySet(f"{what}: {key.key_type} keys are not supported (use RSA or EC)")
        # RFC 7518 §3.3: RSA keys for RS*/PS* must be at least 2048 bits.
        if isinstance(key, RSAKey) and key.public_key.key_size < 2048:
            raise InvalidKeySet(f"{what} has an RSA key shorter than 2048 bits")
    return dict(keys.as_dict(private=False))
