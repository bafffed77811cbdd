"""RFC 8628 device authorization grant, end to end over HTTP.

The device's side (POST /device_authorization, polling POST /token) and the whole user journey
(/device -> /login -> /device/confirm) driven like a browser. The hosted pages' own behaviour
(code formats, guess throttling, CSRF, headers, malformed input) is in test_device_pages.py,
which reuses the helpers and fixtures below.

Polling tests run with device_poll_interval=1 and sleep POLL (1.1 s) between polls; the one
test that proves a client which honours slow_down recovers waits interval + 5 s once.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from authserver.settings import Settings
from tests.helpers import basic, follow, forms, jwt_parts, submit
from tests.http.device import (
    DEVICE_GRANT,
    ISSUER,
    POLL,
    WRONG_CODE,
    assert_oauth_error,
    client_auth,
    confirm_page,
    decide,
    device_request,
    enter_code,
    log_in,
    poll,
    reach_confirm,
    sign_in_browser,
    start,
)

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE = re.compile(rf"^[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def tv(register) -> dict:  # type: ignore[no-untyped-def]
    """A public device client (no secret) that may also refresh."""
    return register("--public", "--grant-type", DEVICE_GRANT, "--grant-type", "refresh_token", name="Living Room TV")


@pytest.fixture
def box(register) -> dict:  # type: ignore[no-untyped-def]
    """A confidential device client (client_secret_basic), no refresh tokens."""
    return register("--grant-type", DEVICE_GRANT, name="Set-top Box")


@pytest.fixture
def http(make_app):  # type: ignore[no-untyped-def]
    return make_app(device_poll_interval=1)


# --- the device's side ------------------------------------------------------------------------------


def refresh(http, client: dict, refresh_token: str):  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    headers = client_auth(client, data)
    return http.post("/token", data=data, headers=headers)


# --- the user's side (a browser) --------------------------------------------------------------------


# --- discovery ----------------------------------------------------------------------------------------


def test_discovery_advertises_the_device_endpoint_and_grant(http):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        metadata = http.get(path).json()
        assert metadata["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
        assert DEVICE_GRANT in metadata["grant_types_supported"]


# --- POST /device_authorization ------------------------------------------------------------------------


def test_device_response_fields(http, tv):
    response = device_request(http, tv)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) >= {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert len(body["device_code"]) >= 32
    assert USER_CODE.match(body["user_code"]), body["user_code"]
    assert body["verification_uri"] == f"{ISSUER}/device"
    complete = urlsplit(body["verification_uri_complete"])
    assert f"{complete.scheme}://{complete.netloc}{complete.path}" == body["verification_uri"]
    assert parse_qs(complete.query) == {"user_code": [body["user_code"]]}
    assert body["expires_in"] == 600
    assert body["interval"] == 1


def test_default_interval_and_lifetime_come_from_settings(make_app, box):
    http = make_app(device_code_ttl=120, device_poll_interval=7)
    body = start(http, box, scope="openid")
    assert body["expires_in"] == 120
    assert body["interval"] == 7


def test_codes_are_fresh_for_every_request(http, tv):
    first, second = start(http, tv), start(http, tv)
    assert first["device_code"] != second["device_code"]
    assert first["user_code"] != second["user_code"]


def test_confidential_client_authenticates_with_basic(http, box):
    body = start(http, box, scope="openid")
    assert USER_CODE.match(body["user_code"])


def test_empty_body_with_basic_auth_is_accepted(http, box):
    # No parameter is required (RFC 8628 §3.1): requests.post(url, auth=(id, secret)) sends no body
    # and no Content-Type.
    response = http.post("/device_authorization", headers=basic(box["client_id"], box["client_secret"]))
    assert response.status_code == 200, response.text


def test_scope_defaults_to_the_clients_scopes(http, tv, alice):
    body = start(http, tv)
    decide(http, body["user_code"])
    tokens = poll(http, tv, body["device_code"]).json()
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "offline_access"}


def test_scope_is_narrowed_to_what_was_requested(http, tv, alice):
    body = start(http, tv, scope="profile")
    page = reach_confirm(http, body["user_code"])
    assert "See your name and username" in page.text
    assert "See your email address" not in page.text
    assert "Know who you are" not in page.text
    submit(http, page, decision="allow")
    response = poll(http, tv, body["device_code"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["scope"] == "profile"
    assert "id_token" not in tokens  # no openid, no ID token
    _, claims = jwt_parts(tokens["access_token"])
    assert claims["scope"] == "profile"


def test_scope_outside_the_clients_is_invalid_scope(http, tv):
    for scope in ("openid admin", "write", "", "   "):
        assert_oauth_error(device_request(http, tv, scope=scope), "invalid_scope")


def test_unknown_public_client_is_invalid_client(http):
    response = http.post("/device_authorization", data={"client_id": "no-such-client"})
    assert_oauth_error(response, "invalid_client", 401)


def test_no_client_at_all_is_invalid_client(http):
    assert_oauth_error(http.post("/device_authorization", data={"scope": "openid"}), "invalid_client", 401)


def test_wrong_secret_is_invalid_client_with_www_authenticate(http, box):
    response = http.post(
        "/device_authorization", data={"scope": "openid"}, headers=basic(box["client_id"], "not-the-secret")
    )
    assert_oauth_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].lower().startswith("basic")


def test_confidential_client_without_its_secret_is_invalid_client(http, box):
    response = http.post("/device_authorization", data={"client_id": box["client_id"]})
    assert_oauth_error(response, "invalid_client", 401)


def test_disabled_client_is_invalid_client(http, cli, tv):
    assert cli("client", "disable", tv["client_id"]).code == 0
    assert_oauth_error(device_request(http, tv), "invalid_client", 401)


def test_client_without_the_device_grant_is_unauthorized_client(http, register):
    service = register("--grant-type", "client_credentials", name="backend")
    assert_oauth_error(device_request(http, service, scope="openid"), "unauthorized_client")


def test_sign_in_client_without_the_device_grant_is_unauthorized_client(http, register):
    web = register("--public", "--redirect-uri", "https://app.example/cb", name="spa")
    assert_oauth_error(device_request(http, web), "unauthorized_client")


def test_registered_resource_becomes_the_audience(http, register, alice):
    client = register(
        "--grant-type",
        DEVICE_GRANT,
        "--resource",
        "https://api.example.com",
        "--resource",
        "https://files.example.com",
        name="Resourceful TV",
    )
    body = start(http, client, resource="https://files.example.com")
    decide(http, body["user_code"])
    response = poll(http, client, body["device_code"])
    assert response.status_code == 200, response.text
    _, claims = jwt_parts(response.json()["access_token"])
    assert claims["aud"] == "https://files.example.com"


def test_unregistered_resource_is_invalid_target(http, register):
    client = register("--grant-type", DEVICE_GRANT, "--resource", "https://api.example.com", name="Resourceful TV")
    response = device_request(http, client, resource="https://evil.example.com")
    assert_oauth_error(response, "invalid_target")


def test_resource_for_a_client_without_resources_is_invalid_target(http, tv):
    assert_oauth_error(device_request(http, tv, resource="https://api.example.com"), "invalid_target")


def test_get_is_not_allowed(http):
    assert http.get("/device_authorization").status_code == 405


# --- the approval, end to end ------------------------------------------------------------------------


def test_approve_flow_end_to_end(http, tv, alice):
    body = start(http, tv, scope="openid profile email offline_access")

    # The device shows the code; the user opens the verification URI.
    page = http.get(urlsplit(body["verification_uri"]).path)
    assert page.status_code == 200
    form = forms(page.text)[0]
    assert form["action"] == "/device" and form["method"].lower() == "post"
    assert set(form["fields"]) == {"csrf_token", "user_code"}
    assert form["fields"]["csrf_token"]

    response = submit(http, page, user_code=body["user_code"])
    response = log_in(http, response)
    page = confirm_page(http, response)
    text = page.text
    assert "Living Room TV" in text
    assert body["user_code"] in text
    for words in (
        "Know who you are (sign you in)",
        "See your name and username",
        "See your email address",
        "Stay connected when you are not using it",
    ):
        assert words in text, words
    assert "alice" in text
    form = forms(text)[0]
    assert form["action"] == "/device/confirm"
    assert {("decision", "allow"), ("decision", "deny")} <= set(form["buttons"])

    done = submit(http, page, decision="allow")
    assert done.status_code == 200, done.text
    assert "Device connected" in done.text and "Living Room TV" in done.text

    response = poll(http, tv, body["device_code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] > 0
    assert tokens["refresh_token"]
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "offline_access"}

    header, id_claims = jwt_parts(tokens["id_token"])
    assert header["alg"] == "RS256"
    assert id_claims["iss"] == ISSUER
    assert id_claims["sub"] == alice["id"]
    assert id_claims["aud"] == tv["client_id"] or id_claims["aud"] == [tv["client_id"]]
    assert "nonce" not in id_claims
    assert abs(id_claims["auth_time"] - time.time()) < 60

    _, access = jwt_parts(tokens["access_token"])
    assert access["sub"] == alice["id"]
    assert access["client_id"] == tv["client_id"]

    userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == alice["id"]
    assert userinfo.json()["email"] == "alice@example.com"


def test_confidential_client_gets_no_refresh_token_without_the_grant(http, box, alice):
    body = start(http, box, scope="openid")
    decide(http, body["user_code"])
    response = poll(http, box, body["device_code"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "refresh_token" not in tokens
    assert tokens["scope"] == "openid"
    assert jwt_parts(tokens["id_token"])[1]["sub"] == alice["id"]


def test_polling_before_approval_is_authorization_pending_then_tokens(http, tv, alice):
    body = start(http, tv)
    assert_oauth_error(poll(http, tv, body["device_code"]), "authorization_pending")
    decide(http, body["user_code"])
    time.sleep(POLL)
    response = poll(http, tv, body["device_code"])
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


def test_polling_too_fast_is_slow_down_and_the_interval_grows(http, tv):
    body = start(http, tv)
    assert_oauth_error(poll(http, tv, body["device_code"]), "authorization_pending")
    assert_oauth_error(poll(http, tv, body["device_code"]), "slow_down")
    # The interval is now 1 + 5 s: waiting only the original interval is still too fast.
    time.sleep(POLL)
    assert_oauth_error(poll(http, tv, body["device_code"]), "slow_down")


def test_a_client_that_honours_slow_down_is_answered_again(http, tv):
    body = start(http, tv)
    assert_oauth_error(poll(http, tv, body["device_code"]), "authorization_pending")
    assert_oauth_error(poll(http, tv, body["device_code"]), "slow_down")
    time.sleep(1 + SLOW_DOWN_STEP + 0.3)
    assert_oauth_error(poll(http, tv, body["device_code"]), "authorization_pending")


def test_slow_down_is_per_device_code(http, tv):
    first, second = start(http, tv), start(http, tv)
    assert_oauth_error(poll(http, tv, first["device_code"]), "authorization_pending")
    assert_oauth_error(poll(http, tv, first["device_code"]), "slow_down")
    assert_oauth_error(poll(http, tv, second["device_code"]), "authorization_pending")


def test_deny_is_access_denied(http, tv, alice):
    body = start(http, tv)
    done = decide(http, body["user_code"], "deny")
    assert "Request denied" in done.text and "Living Room TV" in done.text
    assert_oauth_error(poll(http, tv, body["device_code"]), "access_denied")


def test_a_second_exchange_after_success_is_invalid_grant(http, tv, alice):
    body = start(http, tv)
    decide(http, body["user_code"])
    assert poll(http, tv, body["device_code"]).status_code == 200
    assert_oauth_error(poll(http, tv, body["device_code"]), "invalid_grant")
    time.sleep(POLL)  # not a pacing artefact: still used up when polled at the right pace
    assert_oauth_error(poll(http, tv, body["device_code"]), "invalid_grant")


def test_device_code_of_another_client_is_invalid_grant(http, tv, box, alice, register):
    other = register("--public", "--grant-type", DEVICE_GRANT, name="Other TV")
    body = start(http, tv)
    decide(http, body["user_code"])
    assert_oauth_error(poll(http, other, body["device_code"]), "invalid_grant")
    assert_oauth_error(poll(http, box, body["device_code"]), "invalid_grant")
    # The rightful client is neither paced nor robbed by the other clients' attempts.
    response = poll(http, tv, body["device_code"])
    assert response.status_code == 200, response.text


def test_unknown_device_code_is_invalid_grant(http, tv):
    for device_code in ("not-a-device-code", "x" * 5000):
        assert_oauth_error(poll(http, tv, device_code), "invalid_grant")


def test_missing_device_code_is_invalid_request(http, tv, box):
    assert_oauth_error(poll(http, tv, None), "invalid_request")
    assert_oauth_error(poll(http, box, None), "invalid_request")
    assert_oauth_error(poll(http, tv, ""), "invalid_request")


def test_polling_with_a_wrong_secret_is_invalid_client(http, box):
    body = start(http, box, scope="openid")
    response = http.post(
        "/token",
        data={"grant_type": DEVICE_GRANT, "device_code": body["device_code"]},
        headers=basic(box["client_id"], "wrong"),
    )
    assert_oauth_error(response, "invalid_client", 401)


def test_polling_by_a_client_without_the_grant_is_unauthorized_client(http, tv, register):
    service = register("--grant-type", "client_credentials", name="backend")
    body = start(http, tv)
    assert_oauth_error(poll(http, service, body["device_code"]), "unauthorized_client")


def test_a_user_disabled_after_approving_gets_no_tokens(http, cli, tv, alice):
    body = start(http, tv)
    decide(http, body["user_code"])
    assert cli("user", "disable", "alice").code == 0
    assert_oauth_error(poll(http, tv, body["device_code"]), "invalid_grant")


def test_disabled_client_cannot_poll(http, cli, tv, alice):
    body = start(http, tv)
    decide(http, body["user_code"])
    assert cli("client", "disable", tv["client_id"]).code == 0
    assert_oauth_error(poll(http, tv, body["device_code"]), "invalid_client", 401)


# --- expiry -------------------------------------------------------------------------------------------
#
# device_code_ttl is at least 60 s (Settings: ge=60), far more than this suite may wait. The
# expiry paths are therefore driven by moving the app's one clock (create_app(clock=...)), which the
# device pages and the token endpoint both read; the cache keeps the real clock.
# test_expiry_in_real_time only runs if the minimum lifetime is ever lowered to 5 s or less.


def test_expired_device_code_is_expired_token(http, tv, clock):
    body = start(http, tv)
    clock.advance(body["expires_in"] - 1)
    assert_oauth_error(poll(http, tv, body["device_code"]), "authorization_pending")
    clock.advance(5)  # past the expiry (and the poll interval)
    assert_oauth_error(poll(http, tv, body["device_code"]), "expired_token")


def test_approved_but_expired_device_code_is_expired_token(http, tv, alice, clock):
    body = start(http, tv)
    decide(http, body["user_code"])
    clock.advance(body["expires_in"] + 1)
    assert_oauth_error(poll(http, tv, body["device_code"]), "expired_token")


def test_code_expiring_on_the_confirm_page_cannot_be_approved(http, tv, alice, clock):
    body = start(http, tv)
    page = reach_confirm(http, body["user_code"])
    clock.advance(body["expires_in"] + 1)
    done = submit(http, page, decision="allow")
    assert done.status_code == 400, done.text
    assert "expired" in done.text
    # The page and the token endpoint read one clock: the device hears the same.
    assert_oauth_error(poll(http, tv, body["device_code"]), "expired_token")


def test_expired_code_is_refused_on_the_entry_page(http, tv, clock):
    body = start(http, tv)
    clock.advance(body["expires_in"] + 1)
    response = enter_code(http, body["user_code"])
    assert response.status_code == 400
    assert WRONG_CODE in response.text


def test_expiry_in_real_time(make_app, tv):
    minimum = next(m.ge for m in Settings.model_fields["device_code_ttl"].metadata if hasattr(m, "ge"))
    if minimum > 5:
        pytest.skip(f"device_code_ttl cannot be below {minimum} s; expiry is tested by moving the clock")
    http = make_app(device_code_ttl=minimum, device_poll_interval=1)
    body = start(http, tv)
    time.sleep(minimum + 0.5)
    assert_oauth_error(poll(http, tv, body["device_code"]), "expired_token")


# --- the browser session and the device's tokens --------------------------------------------------------


def test_signed_in_user_goes_straight_to_confirm(http, tv, alice):
    sign_in_browser(http, tv)
    body = start(http, tv)
    response = enter_code(http, body["user_code"])
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/device/confirm?interaction=")
    page = follow(http, response)
    assert body["user_code"] in page.text


def test_refresh_token_outlives_the_approving_browser_session(http, tv, alice):
    # Without offline_access: an authorization-code refresh token would die with the session,
    # a device's must not (the device has no browser session of its own).
    body = start(http, tv, scope="openid profile")
    decide(http, body["user_code"])
    tokens = poll(http, tv, body["device_code"]).json()
    assert tokens["refresh_token"] and tokens["scope"] == "openid profile"

    # The phone that approved signs out (RP-less logout: the user confirms on the logout page).
    page = http.get("/logout", follow_redirects=False)
    assert page.status_code == 200, page.text
    done = submit(http, page, confirm="yes")
    assert done.status_code == 200, done.text
    assert "as_session" not in http.cookies

    # The session really ended: the next code needs a sign-in again.
    again = enter_code(http, start(http, tv)["user_code"])
    assert again.headers["location"].startswith("/login?")

    response = refresh(http, tv, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    fresh = response.json()
    assert fresh["access_token"] and fresh["refresh_token"] != tokens["refresh_token"]
    assert jwt_parts(fresh["access_token"])[1]["sub"] == alice["id"]
    for access_token in (tokens["access_token"], fresh["access_token"]):  # neither ended with the session
        userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
        assert userinfo.status_code == 200, userinfo.text


def test_device_codes_per_client_are_rate_limited(make_app, register):
    http = make_app(device_codes_per_minute=2)
    client = register("--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code")
    other = register("--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code", name="other")
    statuses = [
        http.post("/device_authorization", data={"client_id": client["client_id"]}).status_code for _ in range(2)
    ]
    assert statuses == [200, 200]
    third = http.post("/device_authorization", data={"client_id": client["client_id"]})
    if third.status_code == 200:  # the minute rolled over between requests; the next one must be limited
        third = http.post("/device_authorization", data={"client_id": client["client_id"]})
        third = http.post("/device_authorization", data={"client_id": client["client_id"]})
    assert third.status_code == 429
    assert third.json()["error"] == "too_many_requests"
    assert 1 <= int(third.headers["retry-after"]) <= 60
    # Another client is not affected.
    assert http.post("/device_authorization", data={"client_id": other["client_id"]}).status_code == 200
