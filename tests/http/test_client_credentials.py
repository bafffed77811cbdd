"""POST /token with grant_type=client_credentials (RFC 6749 §4.4, RFC 9068, RFC 8707)."""

from __future__ import annotations

import time

import pytest

from tests.helpers import basic, client_token, jwt_parts


def test_basic_auth_issues_an_rfc9068_access_token(http, register):
    client = register("--scope", "api:read api:write")
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "api:read api:write"
    assert "refresh_token" not in body  # RFC 6749 §4.4.3
    header, claims = jwt_parts(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    now = time.time()
    assert claims["iss"] == "http://testserver"
    assert claims["sub"] == client["client_id"] == claims["client_id"]
    assert claims["aud"] == client["client_id"]
    assert now - 5 <= claims["iat"] <= now + 1
    assert claims["exp"] == claims["iat"] + 900
    assert claims["scope"] == "api:read api:write"
    assert len(claims["jti"]) >= 16


def test_post_auth_for_a_client_registered_for_it(http, register):
    client = register("--token-endpoint-auth-method", "client_secret_post", "--scope", "a")
    response = http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 200, response.text


def test_each_token_has_a_fresh_jti(http, register):
    client = register()
    jtis = {jwt_parts(client_token(http, client)["access_token"])[1]["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_token_lifetime_is_configurable(make_app, register):
    http = make_app(access_token_ttl=60)
    body = client_token(http, register())
    assert body["expires_in"] == 60


def test_requested_scope_is_narrowed_to_the_request(http, register):
    client = register("--scope", "a b c")
    body = client_token(http, client, scope="b a")
    assert body["scope"] == "b a"
    assert jwt_parts(body["access_token"])[1]["scope"] == "b a"


@pytest.mark.parametrize("scope", ["admin", "a admin", ""])
def test_scope_outside_the_clients_is_invalid_scope(http, register, scope):
    client = register("--scope", "a b")
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_client_without_scopes_gets_a_token_without_scope(http, register):
    body = client_token(http, register())
    assert "scope" not in body
    assert "scope" not in jwt_parts(body["access_token"])[1]


def test_registered_resource_becomes_the_audience(http, register):
    client = register("--resource", "https://api.example", "--resource", "https://other.example")
    body = client_token(http, client, resource="https://api.example")
    assert jwt_parts(body["access_token"])[1]["aud"] == "https://api.example"
    both = http.post(
        "/token",
        content="grant_type=client_credentials&resource=https%3A%2F%2Fapi.example&resource=https%3A%2F%2Fother.example",
        headers={
            **basic(client["client_id"], client["client_secret"]),
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert jwt_parts(both.json()["access_token"])[1]["aud"] == ["https://api.example", "https://other.example"]
    default = client_token(http, client)
    assert jwt_parts(default["access_token"])[1]["aud"] == ["https://api.example", "https://other.example"]


def test_unregistered_resource_is_invalid_target(http, register):
    client = register("--resource", "https://api.example")
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": "https://evil.example"},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_wrong_secret_is_401_with_www_authenticate(http, register):
    client = register()
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_unknown_client_gets_the_same_answer_as_a_wrong_secret(http, register):
    client = register()
    wrong = http.post("/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], "wrong"))
    unknown = http.post("/token", data={"grant_type": "client_credentials"}, headers=basic("nobody", "wrong"))
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())


def test_post_credentials_for_a_basic_client_are_refused(http, register):
    client = register()
    response = http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 401
    assert "client_secret_basic" in response.json()["error_description"]


def test_two_authentication_methods_at_once_are_refused(http, register):
    client = register()
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "client_secret": "x", "client_id": client["client_id"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_no_client_authentication_is_invalid_client(http):
    response = http.post("/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!notbase64",
        "Basic " + "bm9jb2xvbg==",  # "nocolon"
        "Basic " + "/w==",  # not UTF-8
        "Bearer abc",
    ],
)
def test_malformed_authorization_header_is_401_not_500(http, header):
    response = http.post("/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_deleted_client_can_no_longer_get_tokens_and_its_tokens_end(http, register, cli):
    client = register("--resource", "https://api.example.com")
    resource_server = register("--introspect", "https://api.example.com", name="api")
    token = client_token(http, client)["access_token"]
    auth = basic(resource_server["client_id"], resource_server["client_secret"])
    assert http.post("/introspect", data={"token": token}, headers=auth).json()["active"] is True
    assert cli("client", "delete", client["client_id"]).code == 0
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 401
    introspection = http.post(
        "/introspect",
        data={"token": token},
        headers=basic(resource_server["client_id"], resource_server["client_secret"]),
    )
    assert introspection.json() == {"active": False}


def test_client_without_the_grant_is_unauthorized_client(http, cli, register):
    web_app = register("--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb")
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(web_app["client_id"], web_app["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    public = cli("client", "create", "--name", "spa", "--public", "--grant-type", "client_credentials")
    assert public.code == 1  # public clients cannot even be registered for client_credentials
    assert "public client" in public.err


@pytest.mark.parametrize(
    ("grant_type", "error"),
    [
        ("password", "unsupported_grant_type"),
        ("urn:ietf:params:oauth:grant-type:token-exchange", "unsupported_grant_type"),
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", "unsupported_grant_type"),
        ("", "invalid_request"),
    ],
)
def test_unsupported_or_missing_grant_type(http, register, grant_type, error):
    client = register()
    response = http.post(
        "/token", data={"grant_type": grant_type}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_tokens_survive_an_app_restart(make_app, register):
    """Keys live in the database: a second process (or worker) verifies the first one's tokens."""
    client = register()
    token = client_token(make_app(), client)["access_token"]
    other = make_app()
    response = other.post(
        "/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.json()["active"] is True


def test_disabled_client_is_refused_until_enabled(http, register, cli):
    client = register("--resource", "https://api.example.com")
    token = client_token(http, client)["access_token"]
    assert cli("client", "disable", client["client_id"]).code == 0
    refused = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert refused.status_code == 401
    assert refused.json()["error_description"] == "Client authentication failed"  # same as unknown
    resource_server = register("--introspect", "https://api.example.com", name="api")
    auth = basic(resource_server["client_id"], resource_server["client_secret"])
    assert http.post("/introspect", data={"token": token}, headers=auth).json() == {"active": False}
    assert cli("client", "enable", client["client_id"]).code == 0
    assert http.post("/introspect", data={"token": token}, headers=auth).json()["active"] is True
    assert cli("client", "disable", client["client_id"]).code == 0
    assert cli("client", "enable", client["client_id"]).code == 0
    client_token(http, client)
    assert cli("client", "disable", "nope").code == 1
