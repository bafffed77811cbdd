"""POST /token with grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6, OIDC Core §3.1.3).

Every test signs a user in through the hosted pages (tests.helpers.sign_in) and redeems the code
like a client would.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers import basic, exchange, jwt_parts, pkce_pair, sign_in

REDIRECT = "https://app.example/cb"
OTHER_REDIRECT = "https://app.example/other"
ACR_PASSWORD = "urn:authserver:loa:1"
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
    """A confidential sign-in client (client_secret_basic)."""
    return register(*SIGN_IN_CLIENT, "--redirect-uri", OTHER_REDIRECT, name="app")


@pytest.fixture
def spa(register) -> dict:
    """A public sign-in client (token endpoint auth "none", PKCE only)."""
    client = register(*SIGN_IN_CLIENT, "--public", name="spa")
    assert not client.get("client_secret")
    return client


def token_request(http, client: dict, **form: str):  # type: ignore[no-untyped-def]
    """POST /token with exactly `form`, authenticated as `client` (Basic, or client_id for public ones)."""
    headers = {}
    if client.get("client_secret"):
        headers = basic(client["client_id"], client["client_secret"])
    else:
        form = {"client_id": client["client_id"], **form}
    return http.post("/token", data=form, headers=headers)


def code_form(code: str, verifier: str | None, redirect_uri: str | None = REDIRECT) -> dict:
    form = {"grant_type": "authorization_code", "code": code}
    if verifier is not None:
        form["code_verifier"] = verifier
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    return form


def introspect(http, resource_server: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect",
        data={"token": token},
        headers=basic(resource_server["client_id"], resource_server["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(http, client: dict, token: str):  # type: ignore[no-untyped-def]
    return token_request(http, client, grant_type="refresh_token", refresh_token=token)


def assert_error(response, error: str, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


# --- success -----------------------------------------------------------------------------------


def test_confidential_client_redeems_its_code(http, app, alice):
    callback, verifier, params = sign_in(http, app)
    assert callback["state"] == params["state"]
    response = exchange(http, app, callback["code"], verifier)
    assert response.status_code == 200, response.text
    # RFC 6749 §5.1: token responses must not be cached.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "openid profile email"
    assert {"access_token", "id_token", "refresh_token"} <= body.keys()


def test_public_client_redeems_its_code_with_pkce_alone(http, spa, alice):
    callback, verifier, _ = sign_in(http, spa)
    response = exchange(http, spa, callback["code"], verifier)  # client_id in the form, no secret
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"access_token", "id_token", "refresh_token"} <= body.keys()
    claims = jwt_parts(body["access_token"])[1]
    assert claims["client_id"] == spa["client_id"] and claims["sub"] == alice["id"]


def test_client_secret_post_client_redeems_its_code(http, register, alice):
    client = register(*SIGN_IN_CLIENT, "--token-endpoint-auth-method", "client_secret_post", name="post")
    callback, verifier, _ = sign_in(http, client)
    form = {
        **code_form(callback["code"], verifier),
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    response = http.post("/token", data=form)
    assert response.status_code == 200, response.text


def test_access_token_is_an_rfc9068_jwt_for_the_user(http, app, alice):
    callback, verifier, _ = sign_in(http, app)
    before = int(time.time())
    body = exchange(http, app, callback["code"], verifier).json()
    header, claims = jwt_parts(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == "http://testserver"
    assert claims["sub"] == alice["id"]
    assert claims["client_id"] == app["client_id"]
    assert claims["aud"] == app["client_id"]  # RFC 9068 §3: default resource is the client itself
    assert claims["scope"] == "openid profile email"
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert before - 1 <= claims["iat"] <= int(time.time()) + 1
    assert claims["exp"] == claims["iat"] + 900
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= claims["iat"]
    assert claims["acr"] == ACR_PASSWORD
    assert claims["gid"]


def test_id_token_claims(http, app, alice):
    callback, verifier, params = sign_in(http, app)
    body = exchange(http, app, callback["code"], verifier).json()
    header, claims = jwt_parts(body["id_token"])
    access = jwt_parts(body["access_token"])[1]
    assert header["alg"] == "RS256" and header["typ"] != "at+jwt" and header["kid"]
    assert claims["iss"] == "http://testserver"
    assert claims["sub"] == alice["id"] == access["sub"]
    assert claims["aud"] == app["client_id"]
    assert claims["azp"] == app["client_id"]
    assert claims["exp"] == claims["iat"] + 3600
    assert abs(claims["iat"] - time.time()) < 10
    assert claims["auth_time"] == access["auth_time"]
    assert claims["nonce"] == params["nonce"]
    # OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token's ASCII octets.
    assert claims["at_hash"] == at_hash(body["access_token"])
    assert isinstance(claims["sid"], str) and claims["sid"]
    assert claims["acr"] == ACR_PASSWORD
    assert claims["amr"] == ["pwd"]
    # With response_type=code, profile and email claims belong to /userinfo, not to the ID token.
    assert "email" not in claims and "name" not in claims


def test_tokens_verify_against_the_published_jwks(http, app, alice):
    callback, verifier, _ = sign_in(http, app)
    body = exchange(http, app, callback["code"], verifier).json()
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    for name in ("access_token", "id_token"):
        decoded = jwt.decode(body[name], keys, algorithms=["RS256"])
        assert decoded.claims["sub"] == alice["id"]


def test_no_nonce_in_the_id_token_when_none_was_sent(http, app, alice):
    callback, verifier, _ = sign_in(http, app, nonce=None)
    claims = jwt_parts(exchange(http, app, callback["code"], verifier).json()["id_token"])[1]
    assert "nonce" not in claims


def test_no_refresh_token_without_the_refresh_token_grant(http, register, alice):
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="norefresh")
    callback, verifier, _ = sign_in(http, client)
    response = exchange(http, client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    assert "id_token" in body


def test_no_id_token_without_openid(http, app, alice):
    callback, verifier, _ = sign_in(http, app, scope="profile")
    response = exchange(http, app, callback["code"], verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "profile"
    assert "id_token" not in body


# --- single use ----------------------------------------------------------------------------------


def test_code_reuse_is_refused_and_revokes_what_the_code_issued(http, app, api, alice):
    callback, verifier, _ = sign_in(http, app)
    first = exchange(http, app, callback["code"], verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert introspect(http, app, tokens["access_token"])["active"] is True

    again = exchange(http, app, callback["code"], verifier)
    assert_error(again, "invalid_grant")

    # RFC 6749 §4.1.2: the server SHOULD revoke all tokens previously issued based on that code.
    assert introspect(http, app, tokens["access_token"]) == {"active": False}
    assert introspect(http, app, tokens["refresh_token"]) == {"active": False}
    assert_error(refresh(http, app, tokens["refresh_token"]), "invalid_grant")


def test_code_reuse_by_a_public_client_revokes_its_tokens(http, spa, api, alice):
    callback, verifier, _ = sign_in(http, spa)
    tokens = exchange(http, spa, callback["code"], verifier).json()
    assert_error(exchange(http, spa, callback["code"], verifier), "invalid_grant")
    assert http.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 401
    assert_error(refresh(http, spa, tokens["refresh_token"]), "invalid_grant")


def test_concurrent_redemptions_issue_tokens_once(http, app, alice):
    callback, verifier, _ = sign_in(http, app)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def redeem() -> None:
        barrier.wait()
        results.append(exchange(http, app, callback["code"], verifier).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [200, 400, 400, 400]


def test_a_replayed_code_does_not_touch_other_grants(http, app, api, alice):
    first_cb, first_verifier, _ = sign_in(http, app)
    first = exchange(http, app, first_cb["code"], first_verifier).json()
    second_cb, second_verifier, _ = sign_in(http, app)
    exchange(http, app, second_cb["code"], second_verifier)
    assert_error(exchange(http, app, second_cb["code"], second_verifier), "invalid_grant")
    assert introspect(http, app, first["access_token"])["active"] is True
    assert refresh(http, app, first["refresh_token"]).status_code == 200


# --- PKCE (RFC 7636 §4.6: a verifier that does not match is invalid_grant) ---------------------


def test_wrong_code_verifier(http, app, alice):
    callback, _, _ = sign_in(http, app)
    other_verifier, _ = pkce_pair()
    assert_error(exchange(http, app, callback["code"], other_verifier), "invalid_grant")


@pytest.mark.parametrize("verifier", [None, ""], ids=["absent", "empty"])
def test_missing_code_verifier(http, app, alice, verifier):
    callback, _, _ = sign_in(http, app)
    assert_error(token_request(http, app, **code_form(callback["code"], verifier)), "invalid_grant")


@pytest.mark.parametrize(
    "verifier",
    ["a" * 42, "a" * 129, "a" * 42 + "+"],
    ids=["42-chars", "129-chars", "plus"],
)
def test_verifier_of_the_wrong_shape_is_refused_even_if_it_hashes_right(http, app, alice, verifier):
    # The challenge sent at /authorize is the true S256 of this malformed verifier.
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    callback, _, _ = sign_in(http, app, code_challenge=challenge)
    assert_error(exchange(http, app, callback["code"], verifier), "invalid_grant")


def test_verifier_of_minimum_length_with_every_allowed_character(http, app, alice):
    verifier = ("AZaz09-._~" * 5)[:43]
    callback, _, _ = sign_in(http, app, code_challenge=s256(verifier))
    response = exchange(http, app, callback["code"], verifier)
    assert response.status_code == 200, response.text


def test_a_failed_verifier_burns_the_code(http, app, alice):
    # The code is marked used before it is checked: a guessing attacker gets one try per code.
    callback, verifier, _ = sign_in(http, app)
    assert_error(exchange(http, app, callback["code"], pkce_pair()[0]), "invalid_grant")
    assert_error(exchange(http, app, callback["code"], verifier), "invalid_grant")


# --- binding to the authorization request --------------------------------------------------------


def test_missing_redirect_uri(http, app, alice):
    callback, verifier, _ = sign_in(http, app)
    assert_error(token_request(http, app, **code_form(callback["code"], verifier, redirect_uri=None)), "invalid_grant")


@pytest.mark.parametrize("redirect_uri", [OTHER_REDIRECT, REDIRECT + "/", "https://evil.example/cb"])
def test_different_redirect_uri(http, app, alice, redirect_uri):
    callback, verifier, _ = sign_in(http, app)
    assert_error(exchange(http, app, callback["code"], verifier, redirect_uri=redirect_uri), "invalid_grant")


def test_the_other_registered_redirect_uri_works_when_it_was_used(http, app, alice):
    callback, verifier, _ = sign_in(http, app, redirect_uri=OTHER_REDIRECT)
    response = exchange(http, app, callback["code"], verifier, redirect_uri=OTHER_REDIRECT)
    assert response.status_code == 200, response.text


def test_code_redeemed_by_another_client(http, app, register, alice):
    thief = register(*SIGN_IN_CLIENT, name="thief")
    callback, verifier, _ = sign_in(http, app)
    assert_error(exchange(http, thief, callback["code"], verifier), "invalid_grant")


def test_code_redeemed_by_another_public_client(http, spa, register, alice):
    thief = register(*SIGN_IN_CLIENT, "--public", name="thief")
    callback, verifier, _ = sign_in(http, spa)
    assert_error(exchange(http, thief, callback["code"], verifier), "invalid_grant")


def test_expired_code(http, app, alice, clock):
    """Expiry on the app's one clock (issue 9 finding 13): the page that issues the code and the token
    endpoint that redeems it read the same clock, moved here instead of slept through."""
    callback, verifier, _ = sign_in(http, app)
    clock.advance(60)  # AUTHSERVER_AUTH_CODE_TTL: expired at exactly its lifetime
    response = exchange(http, app, callback["code"], verifier)
    assert_error(response, "invalid_grant")
    assert "expired" in response.json()["error_description"]


def test_a_code_is_redeemable_until_it_expires(http, app, alice, clock):
    callback, verifier, _ = sign_in(http, app)
    clock.advance(50)  # 10 s before expiry: a margin for a loaded machine
    assert exchange(http, app, callback["code"], verifier).status_code == 200


@pytest.mark.parametrize("code", ["unknown-code", "x" * 500, "é"])
def test_unknown_code(http, app, alice, code):
    assert_error(exchange(http, app, code, pkce_pair()[0]), "invalid_grant")


def test_disabled_user_cannot_redeem_a_code(http, cli, app, alice):
    callback, verifier, _ = sign_in(http, app)
    assert cli("user", "disable", "alice").code == 0
    assert_error(exchange(http, app, callback["code"], verifier), "invalid_grant")


# --- client authentication and request shape ----------------------------------------------------


def test_public_client_sending_a_client_secret(http, spa, alice):
    callback, verifier, _ = sign_in(http, spa)
    form = {**code_form(callback["code"], verifier), "client_id": spa["client_id"], "client_secret": "made-up"}
    response = http.post("/token", data=form)
    assert_error(response, "invalid_client", 401)


def test_public_client_sending_basic_credentials(http, spa, alice):
    callback, verifier, _ = sign_in(http, spa)
    response = http.post(
        "/token", data=code_form(callback["code"], verifier), headers=basic(spa["client_id"], "made-up")
    )
    assert_error(response, "invalid_client", 401)
    assert "www-authenticate" in response.headers


def test_confidential_client_without_credentials(http, app, alice):
    callback, verifier, _ = sign_in(http, app)
    response = http.post("/token", data=code_form(callback["code"], verifier))
    assert_error(response, "invalid_client", 401)
    assert "www-authenticate" in response.headers


def test_confidential_client_naming_itself_without_a_secret(http, app, alice):
    callback, verifier, _ = sign_in(http, app)
    form = {**code_form(callback["code"], verifier), "client_id": app["client_id"]}
    response = http.post("/token", data=form)
    assert_error(response, "invalid_client", 401)
    # The failed attempt did not consume the code.
    assert exchange(http, app, callback["code"], verifier).status_code == 200


def test_confidential_client_with_a_wrong_secret(http, app, alice):
    callback, verifier, _ = sign_in(http, app)
    response = http.post(
        "/token", data=code_form(callback["code"], verifier), headers=basic(app["client_id"], "wrong-secret")
    )
    assert_error(response, "invalid_client", 401)
    assert exchange(http, app, callback["code"], verifier).status_code == 200


def test_client_without_the_authorization_code_grant(http, register):
    machine = register("--scope", "api:read", name="machine")  # client_credentials only
    response = token_request(http, machine, **code_form("some-code", pkce_pair()[0]))
    assert_error(response, "unauthorized_client")


@pytest.mark.parametrize("code", [None, ""], ids=["absent", "empty"])
def test_missing_code_parameter(http, app, code):
    form = code_form("x", pkce_pair()[0])
    if code is None:
        del form["code"]
    else:
        form["code"] = code
    assert_error(token_request(http, app, **form), "invalid_request")
