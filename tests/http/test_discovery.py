"""Discovery documents and the JWKS (OIDC Discovery 1.0, RFC 8414, RFC 7517)."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers import client_token

PATHS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]


@pytest.mark.parametrize("path", PATHS)
def test_metadata_lists_the_endpoints_that_exist(http, path):
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "max-age=" in response.headers["cache-control"]
    meta = response.json()
    assert meta["issuer"] == "http://testserver"
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }
    assert meta["response_types_supported"] == ["code"]
    assert meta["response_modes_supported"] == ["query", "form_post"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["subject_types_supported"] == ["public"]
    assert set(meta["scopes_supported"]) == {"openid", "profile", "email", "offline_access"}
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["request_parameter_supported"] is True
    assert meta["request_object_signing_alg_values_supported"] == ["RS256", "PS256", "ES256"]
    assert meta["request_uri_parameter_supported"] is False  # only our own PAR request_uris
    assert meta["pushed_authorization_request_endpoint"] == "http://testserver/par"
    assert meta["require_pushed_authorization_requests"] is False
    # Every advertised endpoint answers at the advertised URL (nothing advertised that does not work).
    for key in (
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "device_authorization_endpoint",
        "pushed_authorization_request_endpoint",
    ):
        assert meta[key].startswith("http://testserver/")
        assert http.post(meta[key].removeprefix("http://testserver"), data={}).status_code in (400, 401)
    for key in ("jwks_uri", "authorization_endpoint", "end_session_endpoint"):
        assert http.get(meta[key].removeprefix("http://testserver")).status_code in (200, 400)
    assert http.get(meta["userinfo_endpoint"].removeprefix("http://testserver")).status_code == 401


def test_both_documents_are_identical(http):
    assert http.get(PATHS[0]).json() == http.get(PATHS[1]).json()


def test_jwks_publishes_public_rsa_keys_with_cache_lifetime(make_app):
    http = make_app(jwks_max_age=123)
    response = http.get("/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=123"
    keys = response.json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256" and key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys(), "private parameters must never be published"
    assert len(KeySet.import_key_set(response.json()).keys) == 1


def test_access_token_verifies_from_the_jwks_alone(http, register):
    client = register("--scope", "api:read")
    token = client_token(http, client)["access_token"]
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["kid"] in {k.kid for k in keys.keys}


def test_jwks_and_metadata_reject_other_methods(http):
    assert http.post("/jwks.json").status_code == 405
    response = http.delete(PATHS[0])
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_unknown_path_is_a_json_404(http):
    response = http.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("path", [*PATHS, "/jwks.json"])
def test_published_documents_carry_an_etag_and_answer_304_to_a_client_that_has_them(http, path):
    first = http.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    assert http.get(path).headers["etag"] == etag  # stable while the document is
    for presented in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = http.get(path, headers={"If-None-Match": presented})
        assert cached.status_code == 304, presented
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        assert cached.headers["cache-control"] == first.headers["cache-control"]
    changed = http.get(path, headers={"If-None-Match": '"something-else", W/"x"'})
    assert changed.status_code == 200
    assert changed.content == first.content
    assert changed.headers["content-type"] == first.headers["content-type"]


def test_the_jwks_etag_changes_when_the_key_set_does(http, cli):
    before = http.get("/jwks.json")
    assert cli("keys", "rotate").code == 0  # publishes the next key at once (it signs later)
    after = http.get("/jwks.json", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert len(after.json()["keys"]) == len(before.json()["keys"]) + 1
