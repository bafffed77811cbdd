"""Client assertions for private_key_jwt (RFC 7523): a signed assertion and a token request with it.
The `key` and `jwt_client` fixtures that go with them are in tests/http/conftest.py."""

from __future__ import annotations

import time
import uuid

from joserfc import jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assertion(client_id, key, **overrides):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://testserver/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def token_request(http, value, **form):
    return http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": value,
            **form,
        },
    )
