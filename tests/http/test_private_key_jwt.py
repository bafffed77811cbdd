"""private_key_jwt client authentication (RFC 7523 §2.2 / §3, OIDC Core §9)."""

from __future__ import annotations

import json
import time

import pytest
from joserfc.jwk import RSAKey

from tests.http.client_assertions import ASSERTION_TYPE, assertion, token_request


def test_signed_assertion_authenticates(http, jwt_client, key):
    response = token_request(http, assertion(jwt_client["client_id"], key))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "a"
    assert jwt_client["client_secret"] is None


def test_issuer_is_an_accepted_audience(http, jwt_client, key):
    response = token_request(http, assertion(jwt_client["client_id"], key, aud="http://testserver"))
    assert response.status_code == 200


def test_assertion_is_single_use(http, jwt_client, key):
    value = assertion(jwt_client["client_id"], key)
    assert token_request(http, value).status_code == 200
    replay = token_request(http, value)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://elsewhere.example/token"},
        {"exp": int(time.time()) - 3600},
        {"exp": int(time.time()) + 7200},
        {"jti": None},
        {"exp": None},
        {"iss": "someone-else"},
    ],
)
def test_bad_claims_are_invalid_client(http, jwt_client, key, overrides):
    response = token_request(http, assertion(jwt_client["client_id"], key, **overrides))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_assertion_signed_with_another_key_is_refused(http, jwt_client):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "client-key-1"})
    response = token_request(http, assertion(jwt_client["client_id"], stranger))
    assert response.status_code == 401


def test_unsigned_assertion_is_refused(http, jwt_client):
    import base64

    from joserfc import jws

    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    now = int(time.time())
    payload = (
        base64.urlsafe_b64encode(
            json.dumps(
                {
                    "iss": jwt_client["client_id"],
                    "sub": jwt_client["client_id"],
                    "aud": "http://testserver/token",
                    "exp": now + 60,
                    "jti": "x",
                }
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    assert jws  # the library refuses alg=none; so must we
    response = token_request(http, f"{header}.{payload}.")
    assert response.status_code == 401


@pytest.mark.parametrize("value", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.WzFd.c2ln"])
def test_malformed_assertions_are_invalid_client(http, jwt_client, value):
    response = token_request(http, value)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_assertion_type_is_invalid_request(http, jwt_client, key):
    response = http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "saml",
            "client_assertion": assertion(jwt_client["client_id"], key),
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_secret_client_cannot_use_an_assertion(http, register, key):
    client = register()
    response = token_request(http, assertion(client["client_id"], key))
    assert response.status_code == 401


def test_assertion_client_works_at_introspection(http, jwt_client, key):
    token = token_request(http, assertion(jwt_client["client_id"], key)).json()["access_token"]
    response = http.post(
        "/introspect",
        data={
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(jwt_client["client_id"], key),
        },
    )
    assert response.status_code == 200
    assert response.json()["active"] is True
