"""Dynamic client registration (RFC 7591) and its management (RFC 7592), through HTTP: the initial access
token policy, the metadata rules shared with the CLI, and a registered client signing a user in."""

from __future__ import annotations

import pytest

from tests.helpers import basic, exchange, sign_in

APP = {
    "client_name": "Photo app",
    "redirect_uris": ["https://photos.example/cb"],
    "logo_uri": "https://photos.example/logo.png",
    "contacts": ["ops@photos.example"],
}


@pytest.fixture
def initial_token(cli):  # type: ignore[no-untyped-def]
    def make(*args: str) -> str:
        result = cli("client", "registration-token", "--json", *args)
        assert result.code == 0, result.err
        return result.json()["token"]

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_app(http, token: str | None, metadata: dict | None = None):  # type: ignore[no-untyped-def]
    return http.post("/register", json=metadata or APP, headers=bearer(token) if token else {})


def test_discovery_names_the_registration_endpoint(http):
    assert http.get("/.well-known/openid-configuration").json()["registration_endpoint"] == "http://testserver/register"


def test_registration_needs_an_initial_access_token_by_default(http, cli):
    response = register_app(http, None)
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert register_app(http, "made-up").status_code == 401
    assert cli("client", "list", "--json").json() == []


def test_a_registered_client_signs_a_user_in(http, initial_token, alice, cli):
    response = register_app(http, initial_token())
    assert response.status_code == 201, response.text
    client = response.json()
    assert client["client_secret"] and client["client_secret_expires_at"] == 0
    assert client["grant_types"] == ["authorization_code"] and client["response_types"] == ["code"]
    assert client["client_name"] == "Photo app" and client["logo_uri"] == "https://photos.example/logo.png"
    assert client["registration_client_uri"] == f"http://testserver/register/{client['client_id']}"
    assert client["registration_access_token"]
    shown = cli("client", "show", client["client_id"], "--json").json()
    assert shown["registered_by"] == "dynamic" and shown["admin"] is False and shown["first_party"] is False
    callback, verifier, _ = sign_in(http, client)
    tokens = exchange(http, client, callback["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["id_token"]


def test_an_initial_access_token_is_spent_by_its_uses(http, initial_token):
    token = initial_token("--uses", "2")
    assert register_app(http, token).status_code == 201
    assert register_app(http, token).status_code == 201
    third = register_app(http, token)
    assert third.status_code == 401 and third.json()["error"] == "invalid_token"


def test_a_refused_registration_spends_its_use(http, initial_token):
    """The token is checked (and spent) before the metadata: nobody without one learns what is accepted."""
    token = initial_token("--uses", "1")
    bad = register_app(http, token, {"redirect_uris": ["http://evil.example/cb"]})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_redirect_uri"
    assert register_app(http, token).status_code == 401


def test_an_expired_initial_access_token_is_refused(http, initial_token, clock):
    token = initial_token("--expires-in", "60")
    fresh = initial_token("--expires-in", "600")
    clock.advance(120)
    response = register_app(http, token)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert register_app(http, fresh).status_code == 201


def test_open_registration(make_app, cli):
    http = make_app(dynamic_registration="open")
    response = register_app(http, None, {**APP, "token_endpoint_auth_method": "none"})
    assert response.status_code == 201, response.text
    assert "client_secret" not in response.json()
    for smuggled in ({"admin": True}, {"first_party": True}, {"introspect": ["https://api.example"]}):
        created = register_app(http, None, {**APP, **smuggled}).json()
        shown = cli("client", "show", created["client_id"], "--json").json()
        assert shown["admin"] is False and shown["first_party"] is False and shown["introspect"] == []
    refused = register_app(http, None, {**APP, "scope": "openid admin:write"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize(
    ("metadata", "error", "contains"),
    [
        ({"redirect_uris": ["http://photos.example/cb"]}, "invalid_redirect_uri", "redirect_uris"),
        ({"redirect_uris": ["https://photos.example/cb#x"]}, "invalid_redirect_uri", "fragment"),
        ({"redirect_uris": []}, "invalid_redirect_uri", "redirect_uris"),
        ({**APP, "post_logout_redirect_uris": ["https://*.example/"]}, "invalid_redirect_uri", "wildcard"),
        ({**APP, "grant_types": ["password"]}, "invalid_client_metadata", "grant_types"),
        ({**APP, "response_types": ["token"]}, "invalid_client_metadata", "response_types"),
        ({**APP, "jwks_uri": "https://photos.example/jwks"}, "invalid_client_metadata", "jwks_uri"),
        ({**APP, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "jwks"),
        ({**APP, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "invalid_client_metadata", "jwks"),
        ({**APP, "logo_uri": "javascript:alert(1)"}, "invalid_client_metadata", "logo_uri"),
        ({**APP, "tos_uri": 7}, "invalid_client_metadata", "tos_uri"),
        ({**APP, "contacts": ["nope"]}, "invalid_client_metadata", "contacts"),
        ({**APP, "client_name": "x" * 201}, "invalid_client_metadata", "client_name"),
        ({**APP, "scope": "admin:read"}, "invalid_client_metadata", "admin"),
    ],
)
def test_bad_metadata_is_refused_with_the_rfc_7591_error(make_app, cli, metadata, error, contains):
    http = make_app(dynamic_registration="open")
    response = register_app(http, None, metadata)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert contains in response.json()["error_description"]
    assert cli("client", "list", "--json").json() == []


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{", "application/json"), (b"[]", "application/json"), (b"a=b", "application/x-www-form-urlencoded")],
)
def test_bodies_that_are_not_json_objects(make_app, content, content_type):
    http = make_app(dynamic_registration="open")
    response = http.post("/register", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"


# --- RFC 7592 ---------------------------------------------------------------------------------


def test_read_update_delete_with_the_registration_access_token(http, initial_token, alice):
    client = register_app(http, initial_token()).json()
    uri, token = client["registration_client_uri"], client["registration_access_token"]
    read = http.get(uri, headers=bearer(token))
    assert read.status_code == 200 and read.json()["client_name"] == "Photo app"
    assert "client_secret" not in read.json() and "registration_access_token" not in read.json()
    updated = http.put(
        uri,
        json={
            "client_id": client["client_id"],
            "client_name": "Photos 2",
            "redirect_uris": ["https://photos.example/cb2"],
        },
        headers=bearer(token),
    )
    assert updated.status_code == 200, updated.text
    new_token = updated.json()["registration_access_token"]
    assert new_token != token and updated.json()["redirect_uris"] == ["https://photos.example/cb2"]
    assert "logo_uri" not in updated.json()  # PUT replaces: omitted fields are gone
    assert http.get(uri, headers=bearer(token)).status_code == 401  # the old token was rotated away
    # The client still works with its secret, at its new redirect URI.
    callback, verifier, _ = sign_in(http, {**client, "redirect_uris": ["https://photos.example/cb2"]})
    assert (
        exchange(
            http, {**client, "redirect_uris": ["https://photos.example/cb2"]}, callback["code"], verifier
        ).status_code
        == 200
    )
    assert http.delete(uri, headers=bearer(new_token)).status_code == 204
    assert http.get(uri, headers=bearer(new_token)).status_code == 401
    gone = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert gone.status_code == 401


def test_management_refusals(http, initial_token, register):
    client = register_app(http, initial_token()).json()
    other = register_app(http, initial_token()).json()
    uri, token = client["registration_client_uri"], client["registration_access_token"]
    assert http.get(uri).status_code == 401
    assert http.get(uri, headers=bearer(other["registration_access_token"])).status_code == 401
    assert http.get("/register/nope", headers=bearer(token)).status_code == 401
    cli_client = register()
    assert http.get(f"/register/{cli_client['client_id']}", headers=bearer(token)).status_code == 401
    wrong_id = http.put(uri, json={"client_id": other["client_id"], **APP}, headers=bearer(token))
    assert wrong_id.status_code == 400 and wrong_id.json()["error"] == "invalid_client_metadata"
    method = http.put(
        uri, json={"client_id": client["client_id"], **APP, "token_endpoint_auth_method": "none"}, headers=bearer(token)
    )
    assert method.status_code == 400 and "cannot change" in method.json()["error_description"]
    bad_uri = http.put(uri, json={"client_id": client["client_id"], "redirect_uris": ["nope"]}, headers=bearer(token))
    assert bad_uri.status_code == 400 and bad_uri.json()["error"] == "invalid_redirect_uri"
    # Refused updates leave the token and the client as they were.
    assert http.get(uri, headers=bearer(token)).json()["client_name"] == "Photo app"
