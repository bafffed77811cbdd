"""DPoP proofs (RFC 9449 §4.2) made with joserfc for the HTTP tests, including deliberately broken ones.

The interoperability tests use requests-oauth2client's own proofs instead (tests/test_client_library.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
import warnings
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

ISSUER = "http://testserver"


def new_key(alg: str = "ES256"):  # type: ignore[no-untyped-def]
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg in ("EdDSA", "Ed25519"):
        return OKPKey.generate_key("Ed25519")
    return RSAKey.generate_key(2048)


def ath(access_token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


def proof(
    key,  # type: ignore[no-untyped-def]
    htm: str = "POST",
    htu: str = ISSUER + "/token",
    *,
    alg: str | None = None,
    access_token: str | None = None,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    signing_key=None,  # type: ignore[no-untyped-def]
    **claims: Any,
) -> str:
    """A proof for `htm htu` signed by `key` (or `signing_key`, to break the signature)."""
    alg = alg or ("ES256" if isinstance(key, ECKey) else "EdDSA" if isinstance(key, OKPKey) else "RS256")
    head: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    head.update(header or {})
    body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": int(time.time())}
    if access_token is not None:
        body["ath"] = ath(access_token)
    body.update(claims)
    for name in drop:
        head.pop(name, None)
        body.pop(name, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jws.serialize_compact(head, json.dumps(body).encode(), signing_key or key, algorithms=[alg])
