"""GET/POST /userinfo (OIDC Core §5.3) with a Bearer access token (RFC 6750)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import PASSWORD, basic, client_token, exchange, jwt_parts, sign_in

REDIRECT = "https://app.example/cb"
SIGN_IN_CLIENT = (
    "--grant-type",
    "authorization_code",
    "--grant-type",
    "refresh_token",
    "--redirect-uri",
    REDIRECT,
    "--post-logout-redirect-uri",
    "https://app.example/bye",
)


@pytest.fixture
def app(register) -> dict:
    return register(*SIGN_IN_CLIENT, name="app")


SCOPE = "openid profile email"


def tokens_for(http, client: dict, scope: str = SCOPE, **extra: str) -> dict:  # type: ignore[no-untyped-def]
    callback, verifier, _ = sign_in(http, client, scope=scope, **extra)
    response = exchange(http, client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def tokens(http, app, alice) -> dict:
    return tokens_for(http, app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_bearer_error(response, error: str, status: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert f'error="{error}"' in challenge
    assert response.headers["cache-control"] == "no-store"


def expected_claims(user: dict) -> dict:
    return {
        "sub": user["id"],
        "name": "Alice",
        "preferred_username": "alice",
        "updated_at": user["created_at"],
        "email": "alice@example.com",
        "email_verified": False,
    }


# --- transmitting the token -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bearer_header(http, tokens, alice, method):
    response = http.request(method, "/userinfo", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == expected_claims(alice)


def test_bearer_scheme_is_case_insensitive(http, tokens, alice):
    response = http.get("/userinfo", headers={"Authorization": "bearer " + tokens["access_token"]})
    assert response.status_code == 200, response.text


def test_token_in_the_form_body(http, tokens, alice):
    # RFC 6750 §2.2.
    response = http.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert response.status_code == 200, response.text
    assert response.json() == expected_claims(alice)


def test_token_in_the_query_string_is_not_accepted(http, tokens):
    # RFC 6750 §2.3 is optional and leaks tokens into logs; this server does not support it.
    response = http.get("/userinfo", params={"access_token": tokens["access_token"]})
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


def test_token_in_header_and_body_is_invalid_request(http, tokens):
    # RFC 6750 §2: clients MUST NOT use more than one method in each request.
    response = http.post(
        "/userinfo", data={"access_token": tokens["access_token"]}, headers=bearer(tokens["access_token"])
    )
    assert_bearer_error(response, "invalid_request", 400)


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer   "])
def test_bearer_without_a_token_is_invalid_request(http, authorization):
    response = http.get("/userinfo", headers={"Authorization": authorization})
    assert_bearer_error(response, "invalid_request", 400)


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Token abc"])
def test_other_authorization_schemes_get_a_bare_challenge(http, authorization):
    response = http.get("/userinfo", headers={"Authorization": authorization})
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer") and "error=" not in challenge


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_missing_token(http, method):
    response = http.request(method, "/userinfo")
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    # RFC 6750 §3.1: a request without authentication gets the challenge and no error code.
    assert challenge.startswith("Bearer")
    assert "error=" not in challenge


# --- bad tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 3000])
def test_invalid_token(http, token):
    assert_bearer_error(http.get("/userinfo", headers=bearer(token)), "invalid_token", 401)


def test_tampered_token(http, tokens):
    header, _payload, signature = tokens["access_token"].split(".")
    claims = jwt_parts(tokens["access_token"])[1]
    claims["sub"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = ".".join([header, forged_payload, signature])
    assert_bearer_error(http.get("/userinfo", headers=bearer(forged)), "invalid_token", 401)


def test_an_id_token_is_not_an_access_token(http, tokens):
    assert_bearer_error(http.get("/userinfo", headers=bearer(tokens["id_token"])), "invalid_token", 401)


def test_a_refresh_token_is_not_an_access_token(http, tokens):
    assert_bearer_error(http.get("/userinfo", headers=bearer(tokens["refresh_token"])), "invalid_token", 401)


def test_expired_token(make_app, app, alice, clock):
    http = make_app(access_token_ttl=1)
    tokens = tokens_for(http, app)
    clock.advance(2)
    assert_bearer_error(http.get("/userinfo", headers=bearer(tokens["access_token"])), "invalid_token", 401)


def test_revoked_token(http, app, tokens):
    assert http.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 200
    response = http.post(
        "/revoke", data={"token": tokens["access_token"]}, headers=basic(app["client_id"], app["client_secret"])
    )
    assert response.status_code == 200, response.text
    assert_bearer_error(http.get("/userinfo", headers=bearer(tokens["access_token"])), "invalid_token", 401)


def test_token_of_a_revoked_grant(http, app, tokens):
    response = http.post(
        "/revoke", data={"token": tokens["refresh_token"]}, headers=basic(app["client_id"], app["client_secret"])
    )
    assert response.status_code == 200, response.text
    assert_bearer_error(http.get("/userinfo", headers=bearer(tokens["access_token"])), "invalid_token", 401)


def test_token_of_a_disabled_client(http, cli, app, tokens):
    assert cli("client", "disable", app["client_id"]).code == 0
    assert_bearer_error(http.get("/userinfo", headers=bearer(tokens["access_token"])), "invalid_token", 401)


def test_disabled_user(http, cli, tokens):
    assert cli("user", "disable", "alice").code == 0
    assert_bearer_error(http.get("/userinfo", headers=bearer(tokens["access_token"])), "invalid_token", 401)


# --- scope ----------------------------------------------------------------------------------------------


def test_client_credentials_token_has_no_user(http, register):
    machine = register("--scope", "openid api:read", name="machine")
    token = client_token(http, machine)["access_token"]
    assert "openid" in jwt_parts(token)[1]["scope"].split()
    assert_bearer_error(http.get("/userinfo", headers=bearer(token)), "insufficient_scope", 403)


def test_client_credentials_token_without_openid(http, register):
    token = client_token(http, register("--scope", "api:read", name="machine"))["access_token"]
    assert_bearer_error(http.get("/userinfo", headers=bearer(token)), "insufficient_scope", 403)


def test_user_token_without_openid_scope(http, app, alice):
    tokens = tokens_for(http, app, scope="profile email")
    assert "id_token" not in tokens
    response = http.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert_bearer_error(response, "insufficient_scope", 403)


def test_refreshed_token_narrowed_away_from_openid(http, app, tokens):
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "profile"}
    response = http.post("/token", data=form, headers=basic(app["client_id"], app["client_secret"]))
    assert response.status_code == 200, response.text
    narrowed = response.json()["access_token"]
    assert_bearer_error(http.get("/userinfo", headers=bearer(narrowed)), "insufficient_scope", 403)


@pytest.mark.parametrize(
    ("scope", "names"),
    [
        ("openid", {"sub"}),
        ("openid profile", {"sub", "name", "preferred_username", "updated_at"}),
        ("openid email", {"sub", "email", "email_verified"}),
        ("openid profile email", {"sub", "name", "preferred_username", "updated_at", "email", "email_verified"}),
        ("openid offline_access", {"sub"}),
    ],
)
def test_claims_follow_the_granted_scope(http, app, alice, scope, names):
    tokens = tokens_for(http, app, scope=scope)
    claims = http.get("/userinfo", headers=bearer(tokens["access_token"])).json()
    assert set(claims) == names
    expected = expected_claims(alice)
    assert claims == {name: expected[name] for name in names}


def test_claims_parameter_adds_named_claims(http, app, alice):
    request = json.dumps({"userinfo": {"email": None, "phone_number": None}})
    tokens = tokens_for(http, app, scope="openid", claims=request)
    claims = http.get("/userinfo", headers=bearer(tokens["access_token"])).json()
    assert claims == {"sub": alice["id"], "email": "alice@example.com"}


def test_sub_matches_the_id_token(http, tokens, alice):
    claims = http.get("/userinfo", headers=bearer(tokens["access_token"])).json()
    id_token = jwt_parts(tokens["id_token"])[1]
    # OIDC Core §5.3.2: the sub in the UserInfo response MUST match the ID token's.
    assert claims["sub"] == id_token["sub"] == alice["id"]


def test_verified_email_is_reported(http, cli, app):
    result = cli(
        "user",
        "create",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
        "--email-verified",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert result.code == 0, result.err
    tokens = tokens_for(http, app, username="bob")
    claims = http.get("/userinfo", headers=bearer(tokens["access_token"])).json()
    assert claims["email_verified"] is True
    assert claims["preferred_username"] == "bob"
    assert "name" not in claims  # no name was given: absent, not null (OIDC Core §5.3.2)
