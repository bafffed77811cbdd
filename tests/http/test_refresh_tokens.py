"""POST /token with grant_type=refresh_token (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12).

Rotation with reuse detection, scope narrowing, binding to the browser session unless
offline_access was granted, revocation and introspection of refresh tokens.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import (
    PASSWORD,
    authorize,
    authorize_params,
    basic,
    exchange,
    jwt_parts,
    pkce_pair,
    query,
    sign_in,
    submit,
)

REDIRECT = "https://app.example/cb"
BYE = "https://app.example/bye"
SIGN_IN_CLIENT = (
    "--grant-type",
    "authorization_code",
    "--grant-type",
    "refresh_token",
    "--redirect-uri",
    REDIRECT,
    "--post-logout-redirect-uri",
    BYE,
)
FULL = "openid profile email offline_access"


@pytest.fixture
def app(register) -> dict:
    return register(*SIGN_IN_CLIENT, name="app")


@pytest.fixture
def spa(register) -> dict:
    return register(*SIGN_IN_CLIENT, "--public", name="spa")


def token_request(http, client: dict, **form: str):  # type: ignore[no-untyped-def]
    headers = {}
    if client.get("client_secret"):
        headers = basic(client["client_id"], client["client_secret"])
    else:
        form = {"client_id": client["client_id"], **form}
    return http.post("/token", data=form, headers=headers)


def refresh(http, client: dict, token: str, **extra: str):  # type: ignore[no-untyped-def]
    return token_request(http, client, grant_type="refresh_token", refresh_token=token, **extra)


def refreshed(http, client: dict, token: str, **extra: str) -> dict:  # type: ignore[no-untyped-def]
    response = refresh(http, client, token, **extra)
    assert response.status_code == 200, response.text
    return response.json()


def tokens_for(http, client: dict, scope: str = FULL, **extra: str) -> dict:  # type: ignore[no-untyped-def]
    callback, verifier, _ = sign_in(http, client, scope=scope, **extra)
    response = exchange(http, client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()


def introspect(http, client: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_invalid_grant(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


# --- rotation and reuse detection ---------------------------------------------------------------


def test_each_refresh_rotates_the_refresh_token(http, app, alice):
    first = tokens_for(http, app)
    response = refresh(http, app, first["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["token_type"] == "Bearer"
    assert second["scope"] == FULL
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = refreshed(http, app, second["refresh_token"])
    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    claims = jwt_parts(third["access_token"])[1]
    assert claims["sub"] == alice["id"] and claims["client_id"] == app["client_id"]
    assert claims["scope"] == FULL


def test_a_used_refresh_token_is_rejected(http, app, alice):
    first = tokens_for(http, app)
    refreshed(http, app, first["refresh_token"])
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))


def test_reuse_revokes_the_whole_family(http, app, api, alice):
    first = tokens_for(http, app)
    second = refreshed(http, app, first["refresh_token"])
    third = refreshed(http, app, second["refresh_token"])
    for body in (first, second, third):
        assert introspect(http, app, body["access_token"])["active"] is True

    assert_invalid_grant(refresh(http, app, first["refresh_token"]))  # stolen and replayed

    # RFC 9700 §4.14.2: the legitimate holder's newest token dies too, with every access token.
    assert_invalid_grant(refresh(http, app, third["refresh_token"]))
    assert introspect(http, app, third["refresh_token"]) == {"active": False}
    for body in (first, second, third):
        assert introspect(http, app, body["access_token"]) == {"active": False}


def test_reuse_does_not_touch_another_grant_of_the_same_user(http, app, api, alice):
    other = tokens_for(http, app)
    first = tokens_for(http, app)
    refreshed(http, app, first["refresh_token"])
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))
    assert introspect(http, app, other["access_token"])["active"] is True
    refreshed(http, app, other["refresh_token"])


def test_concurrent_refreshes_have_exactly_one_winner(http, app, api, alice):
    first = tokens_for(http, app)
    barrier = threading.Barrier(5)
    responses: list = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        response = refresh(http, app, first["refresh_token"])
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(responses) == 5
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    for loser in responses:
        if loser is not winners[0]:
            assert_invalid_grant(loser)
    # The losers presented a used token: that is reuse, so the winner's successor is revoked too.
    winner = winners[0].json()
    assert_invalid_grant(refresh(http, app, winner["refresh_token"]))
    assert introspect(http, app, winner["access_token"]) == {"active": False}


# --- scope ----------------------------------------------------------------------------------------


def test_scope_can_be_narrowed(http, app, alice):
    first = tokens_for(http, app)
    narrow = refreshed(http, app, first["refresh_token"], scope="openid")
    assert narrow["scope"] == "openid"
    assert jwt_parts(narrow["access_token"])[1]["scope"] == "openid"
    assert "id_token" in narrow
    # The rotated refresh token keeps the original grant: no scope asked, the full scope again.
    full = refreshed(http, app, narrow["refresh_token"])
    assert full["scope"] == FULL
    assert jwt_parts(full["access_token"])[1]["scope"] == FULL


def test_narrowed_scope_without_openid_has_no_id_token(http, app, alice):
    first = tokens_for(http, app)
    body = refreshed(http, app, first["refresh_token"], scope="profile email")
    assert body["scope"] == "profile email"
    assert "id_token" not in body


@pytest.mark.parametrize("scope", ["openid admin", "admin", "openid profile email offline_access phone"])
def test_scope_beyond_the_grant_is_invalid_scope(http, app, alice, scope):
    first = tokens_for(http, app)
    response = refresh(http, app, first["refresh_token"], scope=scope)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"
    # A refused request neither uses nor revokes the token.
    refreshed(http, app, first["refresh_token"])


def test_scope_allowed_for_the_client_but_not_granted_is_invalid_scope(http, app, alice):
    first = tokens_for(http, app, scope="openid profile")
    response = refresh(http, app, first["refresh_token"], scope="openid email")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"


def test_refreshed_id_token_keeps_auth_time_and_has_no_nonce(http, app, alice):
    first = tokens_for(http, app, nonce="n-0S6_WzA2Mj")
    original = jwt_parts(first["id_token"])[1]
    assert original["nonce"] == "n-0S6_WzA2Mj"
    time.sleep(1.1)  # so a recomputed auth_time would differ
    body = refreshed(http, app, first["refresh_token"])
    claims = jwt_parts(body["id_token"])[1]
    assert claims["auth_time"] == original["auth_time"]
    assert "nonce" not in claims
    assert claims["sub"] == original["sub"] == alice["id"]
    assert claims["aud"] == app["client_id"]
    assert claims["sid"] == original["sid"]
    assert claims["acr"] == original["acr"] and claims["amr"] == original["amr"]
    assert claims["iat"] > original["iat"]
    assert jwt_parts(body["access_token"])[1]["auth_time"] == original["auth_time"]


# --- binding to the client and user ---------------------------------------------------------------


def test_refresh_token_of_another_client(http, app, register, alice):
    other = register(*SIGN_IN_CLIENT, name="other")
    first = tokens_for(http, app)
    assert_invalid_grant(refresh(http, other, first["refresh_token"]))
    # Presenting it elsewhere is not reuse by its holder: it still works for the client it belongs to.
    refreshed(http, app, first["refresh_token"])


def test_public_client_refreshes_with_its_client_id(http, spa, alice):
    first = tokens_for(http, spa)
    second = refreshed(http, spa, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert jwt_parts(second["access_token"])[1]["client_id"] == spa["client_id"]
    # Rotation matters most here: the old one is dead.
    assert_invalid_grant(refresh(http, spa, first["refresh_token"]))


def test_public_client_must_identify_itself(http, spa, alice):
    first = tokens_for(http, spa)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    response = http.post("/token", data=form)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_confidential_client_must_authenticate(http, app, alice):
    first = tokens_for(http, app)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": app["client_id"]}
    response = http.post("/token", data=form)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    refreshed(http, app, first["refresh_token"])


def test_disabled_user_cannot_refresh(http, cli, app, alice):
    first = tokens_for(http, app)
    assert cli("user", "disable", "alice").code == 0
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))


def test_client_without_the_refresh_token_grant(http, register):
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="norefresh")
    response = refresh(http, client, "whatever")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize("token", ["unknown", "x" * 201, "a.b.c"])
def test_unknown_refresh_token(http, app, token):
    assert_invalid_grant(refresh(http, app, token))


def test_an_access_token_is_not_a_refresh_token(http, app, alice):
    first = tokens_for(http, app)
    assert_invalid_grant(refresh(http, app, first["access_token"]))


def test_missing_refresh_token_parameter(http, app):
    response = token_request(http, app, grant_type="refresh_token")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


# --- lifetimes (the app's clock is moved instead of waiting: the `clock` fixture, offset in seconds) ---------


def test_idle_refresh_token_expires(make_app, app, alice, clock):
    http = make_app(refresh_token_idle_ttl=60)
    first = tokens_for(http, app)
    clock.offset = 62
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))


def test_each_rotation_restarts_the_idle_timer(make_app, app, alice, clock):
    http = make_app(refresh_token_idle_ttl=60)
    body = tokens_for(http, app)
    clock.offset = 50
    body = refreshed(http, app, body["refresh_token"])
    clock.offset = 100  # 100 s after sign-in, 50 s after the last use
    body = refreshed(http, app, body["refresh_token"])
    clock.offset = 162
    assert_invalid_grant(refresh(http, app, body["refresh_token"]))


def test_rotation_never_extends_the_absolute_lifetime(make_app, app, alice, clock):
    http = make_app(refresh_token_ttl=120, refresh_token_idle_ttl=60)
    body = tokens_for(http, app)
    for offset in (50, 100):
        clock.offset = offset
        body = refreshed(http, app, body["refresh_token"])
    clock.offset = 122  # used 22 s ago, but the family is older than refresh_token_ttl
    assert_invalid_grant(refresh(http, app, body["refresh_token"]))


# --- the browser session and offline_access --------------------------------------------------------


def logout(http, id_token: str):  # type: ignore[no-untyped-def]
    response = http.get(
        "/logout",
        params={"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "s"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == BYE + "?state=s"
    return response


def test_without_offline_access_refresh_ends_with_the_session(http, app, api, alice):
    first = tokens_for(http, app, scope="openid profile")
    second = refreshed(http, app, first["refresh_token"])
    assert second["scope"] == "openid profile"
    logout(http, second["id_token"])
    assert_invalid_grant(refresh(http, app, second["refresh_token"]))
    assert introspect(http, app, second["refresh_token"]) == {"active": False}
    assert introspect(http, app, second["access_token"]) == {"active": False}


def test_without_offline_access_refresh_ends_with_a_confirmed_logout(http, app, alice):
    first = tokens_for(http, app, scope="openid profile")
    page = http.get("/logout", params={"client_id": app["client_id"]})
    assert page.status_code == 200
    done = submit(http, page, confirm="yes")
    assert done.status_code == 200, done.text
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))


def test_with_offline_access_refresh_outlives_the_session(http, app, api, alice):
    first = tokens_for(http, app, scope=FULL)
    logout(http, first["id_token"])
    # The browser session is gone ...
    callback, _, _ = sign_in_silently(http, app)
    assert callback["error"] == "login_required"
    # ... but the offline grant is not.
    assert introspect(http, app, first["access_token"])["active"] is True
    second = refreshed(http, app, first["refresh_token"])
    assert second["scope"] == FULL
    refreshed(http, app, second["refresh_token"])


def sign_in_silently(http, client):  # type: ignore[no-untyped-def]
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, prompt="none")
    response = authorize(http, params)
    assert response.status_code in (302, 303), response.text
    return query(response.headers["location"]), verifier, params


def test_logout_only_ends_grants_of_that_session(http, make_app, app, alice):
    first = tokens_for(http, app, scope="openid profile")
    other_browser = make_app()
    second = tokens_for(other_browser, app, scope="openid profile")
    logout(http, first["id_token"])
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))
    refreshed(other_browser, app, second["refresh_token"])


# --- revocation and introspection (RFC 7009, RFC 7662) ---------------------------------------------


def test_revoking_a_refresh_token_revokes_its_family(http, app, api, alice):
    first = tokens_for(http, app)
    second = refreshed(http, app, first["refresh_token"])
    response = http.post(
        "/revoke",
        headers=basic(app["client_id"], app["client_secret"]),
        data={"token": second["refresh_token"], "token_type_hint": "refresh_token"},
    )
    assert response.status_code == 200, response.text
    assert_invalid_grant(refresh(http, app, second["refresh_token"]))
    # RFC 7009 §2.1: the access tokens of the same grant are invalidated too.
    for body in (first, second):
        assert introspect(http, app, body["access_token"]) == {"active": False}
    assert introspect(http, app, second["refresh_token"]) == {"active": False}


def test_revoking_without_a_hint_finds_the_refresh_token(http, app, alice):
    first = tokens_for(http, app)
    response = http.post(
        "/revoke", data={"token": first["refresh_token"]}, headers=basic(app["client_id"], app["client_secret"])
    )
    assert response.status_code == 200, response.text
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))


def test_another_client_cannot_revoke_a_refresh_token(http, app, api, alice):
    first = tokens_for(http, app)
    response = http.post(
        "/revoke", data={"token": first["refresh_token"]}, headers=basic(api["client_id"], api["client_secret"])
    )
    assert response.status_code in (200, 400), response.text
    refreshed(http, app, first["refresh_token"])


def test_introspecting_a_refresh_token(http, app, api, alice):
    first = tokens_for(http, app)
    body = introspect(http, app, first["refresh_token"])
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == app["client_id"]
    assert body["sub"] == alice["id"]
    assert body["scope"] == FULL
    assert body["iss"] == "http://testserver"
    assert body["exp"] > time.time() + 29 * 86400
    assert body["iat"] <= time.time()
    # RFC 7662 §2.2: a token the caller may not see is simply inactive.
    assert introspect(http, api, first["refresh_token"]) == {"active": False}


def test_a_used_refresh_token_introspects_inactive(http, app, alice):
    first = tokens_for(http, app)
    second = refreshed(http, app, first["refresh_token"])
    assert introspect(http, app, first["refresh_token"]) == {"active": False}
    assert introspect(http, app, second["refresh_token"])["active"] is True


def test_refresh_token_of_a_disabled_user_introspects_inactive(http, cli, app, alice):
    first = tokens_for(http, app)
    assert cli("user", "disable", "alice").code == 0
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))
    assert introspect(http, app, first["refresh_token"]) == {"active": False}


# --- session lifetime and re-authentication ------------------------------------------------------------


def test_without_offline_access_refresh_ends_when_the_session_expires(make_app, app, alice, clock):
    http = make_app(session_ttl=60)
    first = tokens_for(http, app, scope="openid profile")
    clock.offset = 62
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))


def test_with_offline_access_refresh_outlives_session_expiry(make_app, app, alice, clock):
    http = make_app(session_ttl=60)
    first = tokens_for(http, app, scope=FULL)
    clock.offset = 62
    refreshed(http, app, first["refresh_token"])


def test_without_offline_access_refresh_ends_when_the_session_idles_out(make_app, app, alice, clock):
    http = make_app(session_idle_ttl=60)
    first = tokens_for(http, app, scope="openid profile")
    clock.offset = 62
    assert_invalid_grant(refresh(http, app, first["refresh_token"]))


def test_signing_in_as_someone_else_ends_the_previous_users_grants(http, cli, app, alice):
    result = cli(
        "user", "create", "--username", "bob", "--email", "bob@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.code == 0, result.err
    alices = tokens_for(http, app, scope="openid profile")
    tokens_for(http, app, scope="openid profile", username="bob", prompt="login")
    assert_invalid_grant(refresh(http, app, alices["refresh_token"]))


def test_reauthenticating_the_same_user_keeps_session_bound_refresh_tokens(http, app, alice):
    first = tokens_for(http, app, scope="openid profile")
    tokens_for(http, app, scope="openid profile", prompt="login")
    refreshed(http, app, first["refresh_token"])
