"""DPoP proofs (RFC 9449): checking one, and the server nonces that may be required with it.

`DPoPVerifier.verify` follows the checklist of RFC 9449 §4.3 and, for a protected resource, §7.1
(`ath` and the key the token is bound to). It raises `DPoPError` carrying the error code
(`invalid_dpop_proof`, `use_dpop_nonce`) and never touches HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from authserver.cache import Cache
from authserver.clock import Clock
from authserver.security.derive import derive_key

# RFC 9449 §4.3 item 5: asymmetric algorithms only. EdDSA as the issue names it (RFC 8037), and its
# fully-specified successor Ed25519 (RFC 9864).
ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA", "Ed25519"]
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "ES256": (ECKey,),
    "RS256": (RSAKey,),
    "PS256": (RSAKey,),
    "EdDSA": (OKPKey,),
    "Ed25519": (OKPKey,),
}
TYP = "dpop+jwt"
# joserfc caps protected headers at 512 bytes; a proof's header carries its public key (an RSA-4096
# jwk alone is ~750 bytes), so proofs are read with a registry that allows what a proof needs.
_REGISTRY = JWSRegistry(algorithms=ALGORITHMS)
_REGISTRY.max_header_length = 2048
MAX_LENGTH = 8192
# A proof may claim to be this much younger than our clock (client clocks run a little fast).
FUTURE_LEEWAY = 5
NONCE_PERIOD = 60


class DPoPError(Exception):
    def __init__(self, description: str, error: str = "invalid_dpop_proof") -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class DPoPProof:
    jkt: str  # RFC 7638 thumbprint of the proof's public key: what tokens are bound to (cnf.jkt)
    jti: str
    claims: dict[str, Any]


def thumbprint_sha256(value: str) -> str:
    """base64url(SHA-256(value)): the `ath` of an access token (RFC 9449 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode("ascii")).digest()).rstrip(b"=").decode()


def normalize_uri(uri: str) -> str | None:
    """RFC 9449 §4.3 item 9: compare without query and fragment, after RFC 3986 §6.2.2-6.2.3 normalisation."""
    try:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


class DPoPNonces:
    """Server-provided nonces (RFC 9449 §8, §9) every worker and node can check: an HMAC of the current
    minute under a key derived from the server secret. A nonce is good for one to two periods."""

    def __init__(self, secret: bytes, clock: Clock) -> None:
        self._key = derive_key(secret, "dpop-nonce")
        self._clock = clock

    def _for(self, period: int) -> str:
        mac = hmac.new(self._key, str(period).encode(), hashlib.sha256).digest()[:18]
        return f"{period}.{base64.urlsafe_b64encode(mac).decode()}"

    def current(self) -> str:
        return self._for(int(self._clock()) // NONCE_PERIOD)

    def valid(self, nonce: object) -> bool:
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        now = int(self._clock()) // NONCE_PERIOD
        return any(hmac.compare_digest(nonce, self._for(p)) for p in (now, now - 1))


class DPoPVerifier:
    def __init__(self, cache: Cache, nonces: DPoPNonces | None, max_age: int, clock: Clock) -> None:
        self._cache = cache
        self._clock = clock
        self.nonces = nonces  # None: no nonce required
        self._max_age = max_age

    def verify(self, proof: str, *, htm: str, htu: str, access_token: str | None = None) -> DPoPProof:
        claims, key = self._signed(proof)
        # §4.3 item 8-9: the proof is for this very request.
        if claims.get("htm") != htm:
            raise DPoPError("The DPoP proof's htm does not match the request method")
        presented = claims.get("htu")
        if not isinstance(presented, str) or normalize_uri(presented) != normalize_uri(htu):
            raise DPoPError("The DPoP proof's htu does not match the request URI")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 200:
            raise DPoPError("The DPoP proof has no jti")
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or isinstance(iat, bool):
            raise DPoPError("The DPoP proof has no iat")
        now = self._clock()
        # §4.3 item 11 / §11.1: a proof is accepted only within a short window around its creation.
        if iat > now + FUTURE_LEEWAY or iat < now - self._max_age:
            raise DPoPError("The DPoP proof's iat is outside the accepted window")
        if access_token is not None:
            # §4.3 item 12 / §7.1: a proof sent with an access token carries that token's hash.
            ath = claims.get("ath")
            if not isinstance(ath, str) or not hmac.compare_digest(ath, thumbprint_sha256(access_token)):
                raise DPoPError("The DPoP proof's ath does not match the access token")
        if self.nonces is not None and not self.nonces.valid(claims.get("nonce")):
            # §8 / §9: the client retries with the nonce we send back in DPoP-Nonce.
            raise DPoPError("A fresh DPoP nonce is required", error="use_dpop_nonce")
        jkt = key.thumbprint()
        # §11.1: each proof is accepted once; the marker outlives the window in which it could be accepted.
        marker = "dpop-jti:" + hashlib.sha256(f"{jkt}:{jti}".encode()).hexdigest()
        if not self._cache.add(marker, "1", self._max_age + FUTURE_LEEWAY + 5):
            raise DPoPError("The DPoP proof has already been used")
        return DPoPProof(jkt=jkt, jti=jti, claims=claims)

    def _signed(self, proof: str) -> tuple[dict[str, Any], Any]:
        if len(proof) > MAX_LENGTH:
            raise DPoPError("The DPoP proof is too large")
        try:
            header = jws.extract_compact(proof.encode("ascii"), registry=_REGISTRY).protected
        except (JoseError, ValueError, UnicodeEncodeError, TypeError, RecursionError):
            raise DPoPError("The DPoP proof is not a JWS") from None
        # §4.3 items 4-7: typ, an accepted asymmetric alg, and a public jwk of the matching type.
        if header.get("typ") != TYP:
            raise DPoPError("The DPoP proof's typ must be dpop+jwt")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise DPoPError(f"The DPoP proof must be signed with one of {', '.join(ALGORITHMS)}")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise DPoPError("The DPoP proof has no jwk header")
        if any(name in jwk for name in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise DPoPError("The DPoP proof's jwk must be a public key")
        try:
            with warnings.catch_warnings():  # joserfc warns about short RSA keys; they are refused below
                warnings.simplefilter("ignore")
                key = JWKRegistry.import_key(jwk)
        except (JoseError, ValueError, TypeError, KeyError, RecursionError):
            raise DPoPError("The DPoP proof's jwk is not a valid key") from None
        if not isinstance(key, _KEY_TYPES[alg]) or (isinstance(key, RSAKey) and key.public_key.key_size < 2048):
            raise DPoPError("The DPoP proof's jwk does not suit its alg")
        if isinstance(key, ECKey) and jwk.get("crv") != "P-256":
            raise DPoPError("ES256 needs a P-256 key")
        try:
            with warnings.catch_warnings():  # joserfc flags EdDSA as superseded by Ed25519 (RFC 9864)
                warnings.simplefilter("ignore")
                payload = jws.deserialize_compact(proof, key, algorithms=[alg], registry=_REGISTRY).payload
            claims = json.loads(payload)
        except (JoseError, ValueError, TypeError, RecursionError):
            raise DPoPError("The DPoP proof's signature does not verify") from None
        if not isinstance(claims, dict):
            raise DPoPError("The DPoP proof's payload is not a JSON object")
        return claims, key
