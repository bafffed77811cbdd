"""Client enumeration: an unauthenticated caller cannot tell a known confidential client from an unknown one.

Naming a confidential client's client_id without credentials (or with an assertion whose signature does
not verify) gets exactly the answer an unknown client_id gets: the same status, error, description and
headers, after the same work (one secret check).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from authserver.security.secrets import SecretHasher

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Headers that differ per request whatever the client.
_VARYING = {"x-request-id", "date"}


def _answer(response) -> tuple[int, dict, dict]:  # type: ignore[no-untyped-def]
    headers = {k: v for k, v in response.headers.items() if k not in _VARYING}
    return response.status_code, response.json(), headers


@pytest.fixture
def secret_checks(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Every client-secret comparison the server makes, in order."""
    seen: list[str] = []
    original = SecretHasher.verify

    def counting(self, secret, stored):  # type: ignore[no-untyped-def]
        seen.append(secret)
        return original(self, secret, stored)

    monkeypatch.setattr(SecretHasher, "verify", counting)
    return seen


@pytest.fixture
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


@pytest.fixture
def clients(register, key, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A known client_id of each confidential kind, and one that does not exist."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeySet([key]).as_dict(private=False)))
    return {
        "basic": register()["client_id"],
        "post": register("--token-endpoint-auth-method", "client_secret_post")["client_id"],
        "jwt": register("--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", str(jwks))["client_id"],
        "unknown": "no-such-client-" + uuid.uuid4().hex[:8],
    }


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/token", {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://app.example/cb"}),
        ("/token", {"grant_type": "refresh_token", "refresh_token": "x"}),
        ("/token", {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"}),
        ("/device_authorization", {}),
        ("/revoke", {"token": "x"}),
    ],
)
def test_client_id_alone_answers_like_an_unknown_client(http, clients, secret_checks, path, form):
    answers = {}
    checks = {}
    for kind, client_id in clients.items():
        secret_checks.clear()
        answers[kind] = _answer(http.post(path, data={**form, "client_id": client_id}))
        checks[kind] = len(secret_checks)
    status, body, _ = answers["unknown"]
    assert status == 401
    assert body == {"error": "invalid_client", "error_description": "Client authentication failed"}
    for kind in ("basic", "post", "jwt"):
        assert answers[kind] == answers["unknown"], kind
        # The same work as for an unknown client: one (dummy) secret comparison, no early return.
        assert checks[kind] == checks["unknown"] == 1, kind


def test_a_grant_only_for_confidential_clients_refuses_every_client_id_alike(http, clients):
    answers = {
        kind: _answer(http.post("/token", data={"grant_type": "client_credentials", "client_id": client_id}))
        for kind, client_id in clients.items()
    }
    assert answers["unknown"][0] == 401
    assert answers["unknown"][1]["error"] == "invalid_client"
    assert answers["basic"] == answers["post"] == answers["jwt"] == answers["unknown"]


def test_a_public_client_still_authenticates_with_its_client_id(http, register):
    public = register("--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code")
    response = http.post("/device_authorization", data={"client_id": public["client_id"]})
    assert response.status_code == 200, response.text


def _assertion(client_id: str, key: RSAKey) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://testserver/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def test_an_assertion_with_a_foreign_signature_answers_like_an_unknown_client(http, clients):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})

    def attempt(client_id: str):  # type: ignore[no-untyped-def]
        return http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": _assertion(client_id, stranger),
            },
        )

    unknown = _answer(attempt(clients["unknown"]))
    assert unknown[0] == 401
    assert unknown[1] == {"error": "invalid_client", "error_description": "Client authentication failed"}
    for kind in ("basic", "post", "jwt"):
        assert _answer(attempt(clients[kind])) == unknown, kind


def test_a_wrong_secret_answers_like_an_unknown_client(http, clients):
    from tests.helpers import basic

    form = {"grant_type": "client_credentials"}
    unknown = _answer(http.post("/token", data=form, headers=basic(clients["unknown"], "guess")))
    assert unknown[0] == 401
    assert _answer(http.post("/token", data=form, headers=basic(clients["basic"], "guess"))) == unknown
    post = {**form, "client_secret": "guess"}
    assert _answer(http.post("/token", data={**post, "client_id": clients["post"]})) == _answer(
        http.post("/token", data={**post, "client_id": clients["unknown"]})
    )
