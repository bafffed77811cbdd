"""Signing in with a passkey and no password, through HTTP with a software authenticator: the login page's
button and autofill share one endpoint. A passkey with user verification is two factors (amr per RFC 8176,
acr urn:authserver:loa:2); every failure is refused with the login page still open for the password, is
audited, and counts in the one throttle. Challenges are single use, bound to the sign-in, 5 minutes, and
any app instance sharing the cache can finish a ceremony another began."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from authserver.app import create_app
from authserver.settings import Settings
from tests.conftest import ISSUER, REDIS_URL
from tests.helpers import follow, forms
from tests.pages import (
    ACR_MFA,
    SIGN_IN_CLIENT,
    account_sign_in,
    alert,
    assert_page_headers,
    browser_from,
    create_user,
    finish_at_client,
    id_claims,
    sign_in_to,
    start,
)
from tests.passkeys import add_passkey, answer, ask_options, device, events, options, passkeys_on, post_assertion

LOGIN = "/login/passkey"
FAILURE = "That passkey could not be used to sign in. Try again, or use your password."


@pytest.fixture
def key(http, alice):  # type: ignore[no-untyped-def]
    """Alice's passkey (device-bound, user verification), added from the account page in another browser."""
    authenticator = device()
    owner = browser_from(http)
    account_sign_in(owner)
    add_passkey(owner, authenticator, name="Laptop")
    return authenticator


def login_page(http, client: dict, **extra: str):  # type: ignore[no-untyped-def]
    """authorize -> the login page: (page, verifier)."""
    response, verifier, _ = start(http, client, **extra)
    assert response.headers["location"].startswith("/login?interaction="), response.headers.get("location")
    page = follow(http, response)
    assert page.status_code == 200, page.text
    return page, verifier


def refused(response, reason: str, http, user_id: str | None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert alert(response) == FAILURE
    assert forms(response.text)[0]["action"] == "/login"  # the password is still there
    failed = events(http, "passkey.failed")[-1]
    assert failed["where"] == "sign-in" and failed["reason"] == reason and failed.get("user_id") == user_id


# --- the happy path -------------------------------------------------------------------------------------


def test_the_login_page_offers_passkeys_without_inline_script(http, app):
    page, _ = login_page(http, app)
    assert_page_headers(page)
    assert 'autocomplete="username webauthn"' in page.text  # conditional mediation (autofill)
    assert 'id="passkey-signin"' in page.text and 'src="/static/passkeys.js"' in page.text
    assert forms(page.text)[0]["action"] == "/login"  # without JavaScript the password form comes first


def test_a_passkey_signs_in_without_a_password_as_two_factors(http, app, alice, key):
    page, verifier = login_page(http, app)
    made = options(
        http, "sign-in", csrf=http.cookies.get("as_csrf"), interaction=forms(page.text)[1]["fields"]["interaction"]
    )
    assert made["rpId"] == "testserver" and made["userVerification"] == "required"
    assert made["allowCredentials"] == []  # discoverable: the user is not named first
    response = post_assertion(http, page, LOGIN, key.get(made))
    callback = finish_at_client(http, app, response)
    claims = id_claims(http, app, callback, verifier)
    assert claims["sub"] == alice["id"]
    assert claims["amr"] == ["hwk", "user", "pin", "mfa"] and claims["acr"] == ACR_MFA
    [used] = events(http, "passkey.used", alice["id"])
    assert used["where"] == "sign-in" and used["client_id"] == app["client_id"]
    assert passkeys_on(http.get("/account"))[0]["used"]


def test_a_synced_passkey_is_a_software_key(http, app, alice):
    owner = browser_from(http)
    account_sign_in(owner)
    synced = device(synced=True)
    add_passkey(owner, synced)
    for _ in range(2):  # a synced passkey's counter stays 0: that is no regression
        browser = browser_from(http)
        page, verifier = login_page(browser, app)
        callback = finish_at_client(browser, app, answer(browser, page, LOGIN, "sign-in", synced))
        assert id_claims(browser, app, callback, verifier)["amr"] == ["swk", "user", "pin", "mfa"]


def test_a_passkey_satisfies_a_client_that_requires_mfa(http, register, alice, key):
    bank = register(*SIGN_IN_CLIENT, "--require-mfa", name="Bank")
    page, verifier = login_page(http, bank)
    callback = finish_at_client(http, bank, answer(http, page, LOGIN, "sign-in", key))
    assert id_claims(http, bank, callback, verifier)["acr"] == ACR_MFA


def test_a_passkey_steps_up_a_password_session(http, app, alice):
    _, _, seen = sign_in_to(http, app)  # password only (no second factor yet): acr loa:1
    assert seen == ["login", "consent"]
    key = device()
    add_passkey(http, key)  # within sudo mode of that sign-in
    page, verifier = login_page(http, app, acr_values=ACR_MFA)  # the app asks for more
    callback = finish_at_client(http, app, answer(http, page, LOGIN, "sign-in", key))
    claims = id_claims(http, app, callback, verifier)
    assert claims["acr"] == ACR_MFA and "mfa" in claims["amr"]


def test_a_user_with_only_a_passkey_is_sent_to_sign_in_again_for_step_up(http, register, app, alice):
    bank = register(*SIGN_IN_CLIENT, "--require-mfa", name="Bank")
    sign_in_to(http, app)  # password only
    add_passkey(http, device())
    response, _, _ = start(http, bank)
    # Not "set up two-step verification first": the passkey is a way to loa:2, so sign in again.
    assert response.status_code == 302 and response.headers["location"].startswith("/login?")


# --- refused ------------------------------------------------------------------------------------------------


def test_no_user_verification_is_refused(http, app, alice):
    owner = browser_from(http)
    account_sign_in(owner)
    no_pin = device(uv=False)  # a security key without a PIN: one factor only
    add_passkey(owner, no_pin)
    page, _ = login_page(http, app)
    refused(answer(http, page, LOGIN, "sign-in", no_pin), "verification", http, alice["id"])


@pytest.mark.parametrize(
    "knob", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"tamper": True}], ids=str
)
def test_wrong_origin_rp_id_or_signature_is_refused(http, app, alice, key, knob):
    page, _ = login_page(http, app)
    refused(answer(http, page, LOGIN, "sign-in", key, **knob), "verification", http, alice["id"])


def test_a_replayed_assertion_is_refused(http, app, alice, key):
    page, _ = login_page(http, app)
    fields = forms(page.text)[1]["fields"]
    credential = key.get(options(http, "sign-in", csrf=fields["csrf_token"], interaction=fields["interaction"]))
    first = post_assertion(http, page, LOGIN, credential)
    assert first.status_code == 303
    other = browser_from(http)
    page2, _ = login_page(other, app)
    # The same response again (the challenge was taken), on another sign-in of another browser.
    refused(post_assertion(other, page2, LOGIN, credential), "challenge", other, alice["id"])


def test_a_challenge_is_bound_to_its_sign_in(http, app, alice, key):
    page, _ = login_page(http, app)
    fields = forms(page.text)[1]["fields"]
    made = options(http, "sign-in", csrf=fields["csrf_token"], interaction=fields["interaction"])
    page2, _ = login_page(http, app)  # another sign-in in the same browser
    refused(post_assertion(http, page2, LOGIN, key.get(made)), "challenge", http, alice["id"])


def test_an_expired_challenge_is_refused(http, app, alice, key, clock):
    page, _ = login_page(http, app)
    fields = forms(page.text)[1]["fields"]
    made = options(http, "sign-in", csrf=fields["csrf_token"], interaction=fields["interaction"])
    clock.advance(301)
    refused(post_assertion(http, page, LOGIN, key.get(made)), "challenge", http, alice["id"])


def test_a_removed_passkey_no_longer_signs_in(http, app, alice, key):
    owner = browser_from(http)
    page = follow(owner, owner.get("/account", follow_redirects=False))
    assert answer(owner, page, LOGIN, "sign-in", key).status_code == 303  # passwordless: recent enough
    [listed] = passkeys_on(owner.get("/account"))
    csrf = owner.cookies.get("as_csrf")
    removed = owner.post(
        "/account/passkeys/remove", data={"csrf_token": csrf, "id": listed["id"]}, follow_redirects=False
    )
    assert removed.status_code == 303
    page, _ = login_page(http, app)
    refused(answer(http, page, LOGIN, "sign-in", key), "unknown_credential", http, None)


def test_a_user_handle_naming_someone_else_is_refused(http, app, alice, key, cli):
    bob = create_user(cli, "bob")
    page, _ = login_page(http, app)
    response = answer(http, page, LOGIN, "sign-in", key, user_handle=bob["id"].encode())
    refused(response, "user_handle", http, alice["id"])


def test_a_disabled_account_cannot_sign_in_with_its_passkey(http, app, alice, key, cli):
    assert cli("user", "disable", "alice").code == 0
    page, _ = login_page(http, app)
    refused(answer(http, page, LOGIN, "sign-in", key), "account_disabled", http, alice["id"])


def test_a_counter_that_goes_backwards_is_refused_and_audited(http, app, alice, key):
    page, _ = login_page(http, app)
    assert answer(http, page, LOGIN, "sign-in", key, sign_count=10).status_code == 303
    clone = browser_from(http)
    page2, _ = login_page(clone, app)
    # A copy of the key that has signed less: its counter is behind the one stored.
    refused(answer(clone, page2, LOGIN, "sign-in", key, sign_count=7), "sign_count_regressed", clone, alice["id"])
    page3, _ = login_page(clone, app)
    refused(answer(clone, page3, LOGIN, "sign-in", key, sign_count=10), "sign_count_regressed", clone, alice["id"])
    page4, _ = login_page(clone, app)
    assert answer(clone, page4, LOGIN, "sign-in", key, sign_count=11).status_code == 303


@pytest.mark.parametrize("credential", ["", "{}", "not json", json.dumps({"response": {"clientDataJSON": "x"}})])
def test_garbage_is_refused_with_the_login_page(http, app, credential):
    page, _ = login_page(http, app)
    fields = forms(page.text)[1]["fields"]
    response = http.post(LOGIN, data={**fields, "credential": credential}, follow_redirects=False)
    assert response.status_code == 400 and alert(response) == FAILURE


def test_passkey_failures_count_in_the_throttle(make_app, app, alice):
    strict = make_app(login_max_failures=3)
    owner = browser_from(strict)
    account_sign_in(owner)
    key = device()
    add_passkey(owner, key)
    guesser = browser_from(strict)
    for _ in range(3):  # bad signatures from one address
        page, _ = login_page(guesser, app)
        assert answer(guesser, page, LOGIN, "sign-in", key, tamper=True).status_code == 400
    page, _ = login_page(guesser, app)
    locked = answer(guesser, page, LOGIN, "sign-in", key)  # even a good one, now
    assert locked.status_code == 429 and "Too many attempts" in alert(locked)
    assert events(strict, "passkey.failed")[-1]["reason"] == "throttled"
    assert [e["scope"] for e in events(strict, "account.locked", alice["id"])] == ["pair"]
    # Another address is not locked out of the account.
    elsewhere = browser_from(strict, host="198.51.100.7")
    page, _ = login_page(elsewhere, app)
    assert answer(elsewhere, page, LOGIN, "sign-in", key).status_code == 303


def test_options_need_a_live_sign_in_of_this_browser(http, app, key):
    page, _ = login_page(http, app)
    fields = forms(page.text)[1]["fields"]
    unknown = ask_options(http, "sign-in", csrf=fields["csrf_token"], interaction="nope")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_request"
    other = browser_from(http)
    other.get("/account", follow_redirects=False)  # its own CSRF cookie
    foreign = ask_options(other, "sign-in", csrf=other.cookies.get("as_csrf"), interaction=fields["interaction"])
    assert foreign.status_code == 400 and "another browser" in foreign.json()["error_description"]


# --- several app instances ---------------------------------------------------------------------------------


@pytest.mark.skipif(not REDIS_URL, reason="the in-process cache is per process by design; Redis is the shared one")
def test_a_ceremony_begun_on_one_instance_finishes_on_another(http, app, alice, key, env):
    page, verifier = login_page(http, app)
    fields = forms(page.text)[1]["fields"]
    made = options(http, "sign-in", csrf=fields["csrf_token"], interaction=fields["interaction"])
    with TestClient(create_app(Settings()), base_url=ISSUER) as node_b:
        node_b.cookies.update(http.cookies)
        response = post_assertion(node_b, page, LOGIN, key.get(made))
        callback = finish_at_client(node_b, app, response)
        assert id_claims(node_b, app, callback, verifier)["acr"] == ACR_MFA


def test_the_account_history_and_export_name_passkeys(http, app, alice, key):
    page = follow(http, http.get("/account", follow_redirects=False))
    assert answer(http, page, LOGIN, "sign-in", key).status_code == 303
    account = http.get("/account")
    history = re.search(r'<table class="history">.*?<tbody>(.*?)</tbody>', account.text, re.DOTALL)
    assert history is not None
    first_row = re.findall(r"<td>(.*?)</td>", re.search(r"<tr[^>]*>(.*?)</tr>", history.group(1), re.DOTALL).group(1))
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in first_row][3:] == ["Passkey", "Signed in"]
    exported = http.post("/account/export", data={"csrf_token": http.cookies.get("as_csrf")}, follow_redirects=False)
    assert exported.status_code == 200, exported.text  # a passwordless sign-in is recent enough
    [listed] = exported.json()["second_factors"]["passkeys"]
    assert listed["name"] == "Laptop" and listed["synced"] is False and listed["last_used_at"]
    assert "public_key" not in listed and next(iter(key.credentials)) not in exported.text
