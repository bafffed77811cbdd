"""Adding, naming and removing passkeys on the account page, through HTTP with a software authenticator
(tests/softauthn.py): the options the server asks for, a sudo gate, challenges that are single use, bound
to the browser session and dead after 5 minutes, refused origins and RP IDs, the audit trail, and the
administrator's reset."""

from __future__ import annotations

import json

import pytest

from authserver.settings import Settings
from tests.pages import account_post, account_sign_in, alert, browser_from, create_user, notice
from tests.passkeys import (
    add_passkey,
    ask_options,
    confirm_with_passkey,
    device,
    events,
    options,
    passkeys_on,
    post_new_passkey,
)


@pytest.fixture
def signed_in(http, alice):  # type: ignore[no-untyped-def]
    account_sign_in(http)
    return http


# --- the happy path -----------------------------------------------------------------------------------


def test_options_ask_for_a_discoverable_credential_without_attestation(signed_in, alice):
    made = options(signed_in, "register")
    assert made["rp"] == {"name": "authserver", "id": "testserver"}  # the issuer's host
    assert made["user"]["name"] == "alice@example.com"
    assert made["authenticatorSelection"]["residentKey"] == "required"
    assert made["authenticatorSelection"]["userVerification"] == "preferred"
    assert made["attestation"] == "none"
    assert made["excludeCredentials"] == []
    assert len(made["challenge"]) >= 43  # 32 random bytes


def test_a_passkey_is_added_named_listed_and_audited(signed_in, alice):
    first = device()
    credential_id = add_passkey(signed_in, first, name="  Work\tlaptop \x07 ")
    page = signed_in.get("/account?done=passkey")
    assert notice(page).startswith("Your passkey was added")
    assert passkeys_on(page) == [{"id": credential_id, "name": "Work laptop", "synced": False, "used": False}]
    assert 'id="passkey-add"' in page.text and 'src="/static/passkeys.js"' in page.text
    [event] = events(signed_in, "passkey.registered", alice["id"])
    assert event["credential"] == credential_id[:16] and event["synced"] is False and event["user_verified"] is True
    # The account has a second factor now: sudo mode needs the password and a passkey.
    stale = ask_options(signed_in, "register")
    assert stale.status_code == 403 and stale.json()["error"] == "reauth_required"
    confirm_with_passkey(signed_in, first)
    # The second one excludes the first (an authenticator is not registered twice) and gets a default name.
    made = options(signed_in, "register")
    assert [d["id"] for d in made["excludeCredentials"]] == [credential_id]
    add_passkey(signed_in, device(synced=True))
    listed = passkeys_on(signed_in.get("/account"))
    assert sorted((p["name"], p["synced"]) for p in listed) == [("Passkey 2", True), ("Work laptop", False)]


def test_the_account_page_nudges_towards_a_passkey_and_its_csp_allows_the_script(signed_in):
    page = signed_in.get("/account")
    assert "a passkey can't be" in page.text and passkeys_on(page) == []
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe-inline" not in csp
    script = signed_in.get("/static/passkeys.js")
    assert script.status_code == 200 and "AbortController" in script.text


# --- who may ask ---------------------------------------------------------------------------------------


def test_options_need_a_session_the_csrf_token_and_a_known_purpose(http, alice):
    page = http.get("/account", follow_redirects=False)  # no session: a CSRF cookie only
    csrf = http.cookies.get("as_csrf")
    assert page.status_code == 303 and csrf
    no_session = ask_options(http, "register", csrf=csrf)
    assert no_session.status_code == 401 and no_session.json()["error"] == "login_required"
    account_sign_in(http)
    forged = ask_options(http, "register", csrf="x" * 40)
    assert forged.status_code == 403 and forged.json()["error"] == "invalid_request"
    unknown = ask_options(http, "launch-missiles")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_request"


def test_adding_a_passkey_needs_a_recent_authentication(signed_in, alice, clock):
    authenticator = device()
    made = options(signed_in, "register")
    clock.advance(400)  # past AUTHSERVER_REAUTH_SECONDS (300), within the session's idle limit
    stale = ask_options(signed_in, "register")
    assert stale.status_code == 403
    assert stale.json() == {
        "error": "reauth_required",
        "error_description": "Confirm it's you first.",
        "location": "/account/reauth?next=/account",
    }
    # A response to options fetched while recent is refused too: the gate is checked again on the POST.
    response = post_new_passkey(signed_in, authenticator.create(made))
    assert response.status_code == 303 and response.headers["location"] == "/account/reauth?next=%2Faccount"
    assert passkeys_on(signed_in.get("/account")) == []


# --- refused responses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knob", "reason"),
    [
        ({"origin": "https://evil.example"}, "Unexpected client data origin"),
        ({"origin": "http://testserver:8080"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
    ],
)
def test_a_response_for_another_origin_or_rp_id_is_refused(signed_in, alice, knob, reason):
    credential = device().create(options(signed_in, "register"), **knob)
    response = post_new_passkey(signed_in, credential)
    assert response.status_code == 400
    assert alert(response).startswith("The passkey was not added.")
    assert passkeys_on(signed_in.get("/account")) == []
    [failed] = events(signed_in, "passkey.failed", alice["id"])
    assert failed["where"] == "registration" and failed["reason"].startswith(reason)


def test_a_challenge_is_single_use(signed_in, alice):
    authenticator = device()
    made = options(signed_in, "register")
    first = authenticator.create(made)
    assert post_new_passkey(signed_in, first).status_code == 303
    confirm_with_passkey(signed_in, authenticator)  # sudo mode for the next one
    second = authenticator.create(made)  # another credential, the same (now used) challenge
    replay = post_new_passkey(signed_in, second)
    assert replay.status_code == 400 and "expired or was already used" in alert(replay)
    assert len(passkeys_on(signed_in.get("/account"))) == 1
    assert events(signed_in, "passkey.failed", alice["id"])[-1]["reason"] == "challenge"


def test_a_challenge_the_server_never_issued_is_refused(signed_in):
    made = options(signed_in, "register")
    made["challenge"] = "A" * 43
    response = post_new_passkey(signed_in, device().create(made))
    assert response.status_code == 400 and "expired or was already used" in alert(response)


def test_a_challenge_expires_after_five_minutes(make_app, alice, clock):
    http = make_app(reauth_seconds=3600)  # keep sudo mode open: only the challenge may expire
    account_sign_in(http)
    made = options(http, "register")
    clock.advance(301)
    response = post_new_passkey(http, device().create(made))
    assert response.status_code == 400 and "expired or was already used" in alert(response)


def test_a_challenge_is_bound_to_the_session_that_asked(signed_in, alice):
    made = options(signed_in, "register")
    other = browser_from(signed_in)
    account_sign_in(other)  # alice again, in another browser: another session
    response = post_new_passkey(other, device().create(made))
    assert response.status_code == 400 and "expired or was already used" in alert(response)


@pytest.mark.parametrize(
    "credential",
    ["", "not json", "[]", '{"response": 1}', json.dumps({"id": "x", "response": {"clientDataJSON": "!!"}})],
)
def test_garbage_is_refused_with_a_page_not_an_error(signed_in, credential):
    response = signed_in.post(
        "/account/passkeys",
        data={"csrf_token": signed_in.cookies.get("as_csrf"), "credential": credential},
        follow_redirects=False,
    )
    assert response.status_code == 400 and alert(response).startswith("The passkey was not added.")


def test_the_same_credential_cannot_be_registered_twice(signed_in, cli):
    authenticator = device()
    credential = authenticator.create(options(signed_in, "register"))
    assert post_new_passkey(signed_in, credential).status_code == 303
    confirm_with_passkey(signed_in, authenticator)
    # The same credential again, for a fresh challenge (a `none` attestation signs nothing, so a hostile
    # client can replay the attestation object): refused by the credential id's uniqueness.
    made = options(signed_in, "register")
    again = json.loads(json.dumps(credential))
    again["response"]["clientDataJSON"] = authenticator.create(made)["response"]["clientDataJSON"]
    response = post_new_passkey(signed_in, again)
    assert response.status_code == 409 and alert(response) == "This passkey is already registered."
    assert len(passkeys_on(signed_in.get("/account"))) == 1


# --- rename and remove ------------------------------------------------------------------------------------


def test_rename_and_remove(signed_in, alice):
    phone = device()
    credential_id = add_passkey(signed_in, phone, name="Phone")
    renamed = account_post(signed_in, "/account/passkeys/rename", id=credential_id, name="Old phone")
    assert renamed.status_code == 303 and renamed.headers["location"] == "/account?done=passkey-renamed"
    assert passkeys_on(signed_in.get("/account"))[0]["name"] == "Old phone"
    blank = account_post(signed_in, "/account/passkeys/rename", id=credential_id, name=" \t ")
    assert blank.status_code == 400 and alert(blank) == "Give the passkey a name."
    confirm_with_passkey(signed_in, phone)  # removing is a sudo action: the password and the passkey
    removed = account_post(signed_in, "/account/passkeys/remove", id=credential_id)
    assert removed.status_code == 303 and removed.headers["location"] == "/account?done=passkey-removed"
    assert passkeys_on(signed_in.get("/account")) == []
    [event] = events(signed_in, "passkey.removed", alice["id"])
    assert event["credential"] == credential_id[:16] and event["by"] == "user"
    again = account_post(signed_in, "/account/passkeys/remove", id=credential_id)
    assert again.status_code == 400 and alert(again) == "That passkey no longer exists."


def test_nobody_renames_or_removes_another_users_passkey(signed_in, cli):
    credential_id = add_passkey(signed_in, device(), name="Alice's key")
    create_user(cli, "bob")
    bob = browser_from(signed_in)
    account_sign_in(bob, username="bob")
    assert account_post(bob, "/account/passkeys/rename", id=credential_id, name="mine").status_code == 400
    assert account_post(bob, "/account/passkeys/remove", id=credential_id).status_code == 400
    assert passkeys_on(signed_in.get("/account"))[0]["name"] == "Alice's key"


def test_removing_a_passkey_is_a_sudo_action(signed_in, clock):
    credential_id = add_passkey(signed_in, device())
    clock.advance(400)
    response = account_post(signed_in, "/account/passkeys/remove", id=credential_id)
    assert response.status_code == 303 and response.headers["location"].startswith("/account/reauth?")
    assert len(passkeys_on(signed_in.get("/account"))) == 1


def test_reset_mfa_removes_passkeys(signed_in, alice, cli):
    first = device()
    add_passkey(signed_in, first)
    confirm_with_passkey(signed_in, first)
    add_passkey(signed_in, device())
    result = cli("user", "reset-mfa", "alice", "--json")
    assert result.code == 0, result.err
    assert result.json()["passkeys_removed"] == 2
    assert passkeys_on(signed_in.get("/account")) == []


# --- settings -----------------------------------------------------------------------------------------------


def test_rp_id_and_origin_come_from_the_issuer_unless_set(env):
    plain = Settings(issuer="https://login.example.com:8443/tenant")
    assert (plain.rp_id, plain.rp_origin) == ("login.example.com", "https://login.example.com:8443")
    proxied = Settings(
        issuer="http://internal:8000", webauthn_rp_id="example.com", webauthn_origin="https://login.example.com"
    )
    assert (proxied.rp_id, proxied.rp_origin) == ("example.com", "https://login.example.com")
    with pytest.raises(ValueError, match="parent domain"):
        Settings(issuer="https://login.example.com", webauthn_rp_id="example.org")
    with pytest.raises(ValueError, match="must be an origin"):
        Settings(webauthn_origin="https://login.example.com/path")
    production = {"env": "production", "issuer": "https://login.example.com"}
    assert not [p for p in Settings(**production).production_problems() if "WEBAUTHN" in p]
    insecure = Settings(**production, webauthn_origin="http://login.example.com")
    assert "AUTHSERVER_WEBAUTHN_ORIGIN must be an https:// origin in production" in insecure.production_problems()


def test_the_cli_names_a_bad_rp_id(cli, env, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_WEBAUTHN_RP_ID", "evil.example")
    result = cli("migrate")
    assert result.code != 0
    assert "webauthn_rp_id" in result.err.lower()
