"""A passkey as the second factor after the password (/mfa) and on the re-authentication page, through
HTTP with a software authenticator; and the rule that an account keeps one second factor while a client
requires two-step verification, decided atomically even when two removals race."""

from __future__ import annotations

import threading

import pytest

from tests.helpers import PASSWORD, follow, forms, submit
from tests.pages import (
    ACR_MFA,
    SIGN_IN_CLIENT,
    account_post,
    account_sign_in,
    alert,
    assert_page_headers,
    browser_from,
    create_user,
    enrol,
    finish_at_client,
    id_claims,
    mfa_state,
    notice,
    password_step,
    reauthenticate,
)
from tests.passkeys import (
    add_passkey,
    answer,
    ask_options,
    confirm_with_passkey,
    device,
    events,
    options,
    passkeys_on,
    post_assertion,
)

MFA = "/mfa"
REAUTH = "/account/reauth"


@pytest.fixture
def owner(http, alice):  # type: ignore[no-untyped-def]
    """Alice's browser, signed in on the account page."""
    browser = browser_from(http)
    account_sign_in(browser)
    return browser


def enrol_totp(browser):  # type: ignore[no-untyped-def]
    """Turn TOTP on, then confirm with a code (the session was password-only, now the account has a second
    factor: sudo mode needs both again)."""
    authenticator, codes = enrol(browser)
    assert reauthenticate(browser, code=authenticator.code()).status_code == 303
    return authenticator, codes


# --- /mfa ---------------------------------------------------------------------------------------------------


def test_after_the_password_a_passkey_is_the_second_factor(http, app, alice, owner):
    key = device(uv=False)  # a security key without a PIN is enough after a password
    add_passkey(owner, key)
    browser = browser_from(http)
    page, verifier, _ = password_step(browser, app)
    assert_page_headers(page)
    assert 'id="passkey-verify"' in page.text and 'name="code"' not in page.text  # no TOTP: no code box
    [form] = forms(page.text)
    made = options(
        browser, "second-factor", csrf=form["fields"]["csrf_token"], interaction=form["fields"]["interaction"]
    )
    assert [d["id"] for d in made["allowCredentials"]] == list(key.credentials)  # only her own passkeys
    assert made["userVerification"] == "preferred"
    callback = finish_at_client(browser, app, post_assertion(browser, page, MFA, key.get(made)))
    claims = id_claims(browser, app, callback, verifier)
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"] and claims["acr"] == ACR_MFA
    used = events(http, "mfa.used", alice["id"])[-1]
    assert used["method"] == "passkey"
    assert events(http, "passkey.used", alice["id"])[-1]["where"] == "second-factor"


def test_with_totp_and_a_passkey_the_page_offers_both(http, app, alice, owner):
    authenticator, _ = enrol_totp(owner)
    key = device()
    add_passkey(owner, key)
    browser = browser_from(http)
    page, verifier, _ = password_step(browser, app)
    code_form, passkey_form = forms(page.text)
    assert "code" in code_form["fields"] and passkey_form["fields"]["credential"] == ""
    callback = finish_at_client(browser, app, answer(browser, page, MFA, "second-factor", key))
    assert id_claims(browser, app, callback, verifier)["amr"] == ["pwd", "hwk", "user", "pin", "mfa"]
    # The code still works too.
    other = browser_from(http)
    page, _, _ = password_step(other, app)
    finish_at_client(other, app, submit(other, page, code=authenticator.code()))


def test_a_passwordless_sign_in_skips_the_mfa_page(http, app, alice, owner):
    enrol_totp(owner)
    key = device()
    add_passkey(owner, key)
    browser = browser_from(http)
    response = browser.get("/account", follow_redirects=False)
    page = follow(browser, response)
    final = answer(browser, page, "/login/passkey", "sign-in", key)
    assert final.status_code == 303 and final.headers["location"] == "/account"


def test_another_users_passkey_is_refused(http, app, alice, owner, cli):
    add_passkey(owner, device())
    create_user(cli, "bob")
    bob = browser_from(http)
    account_sign_in(bob, username="bob")
    bobs_key = device()
    add_passkey(bob, bobs_key)
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    [form] = forms(page.text)
    made = options(
        browser, "second-factor", csrf=form["fields"]["csrf_token"], interaction=form["fields"]["interaction"]
    )
    response = post_assertion(browser, page, MFA, bobs_key.get(made, credential_id=next(iter(bobs_key.credentials))))
    assert response.status_code == 400 and alert(response).startswith("That passkey could not be used.")
    failed = events(http, "passkey.failed", alice["id"])[-1]
    assert failed["where"] == "second-factor" and failed["reason"] == "unknown_credential"


@pytest.mark.parametrize(
    "knob", [{"tamper": True}, {"origin": "https://evil.example"}, {"rp_id": "evil.example"}], ids=str
)
def test_bad_assertions_count_towards_the_sign_ins_limit(make_app, app, alice, knob):
    http = make_app(mfa_max_attempts=3, login_max_failures=10)
    owner = browser_from(http)
    account_sign_in(owner)
    key = device()
    add_passkey(owner, key)
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    for _ in range(2):
        response = answer(browser, page, MFA, "second-factor", key, **knob)
        assert response.status_code == 400 and alert(response).startswith("That passkey could not be used.")
    stopped = answer(browser, page, MFA, "second-factor", key, **knob)
    assert stopped.status_code == 400 and "Too many wrong codes" in alert(stopped)
    # The half-finished sign-in is gone: even a good passkey cannot finish it.
    assert (
        ask_options(
            browser,
            "second-factor",
            csrf=forms(page.text)[0]["fields"]["csrf_token"],
            interaction=forms(page.text)[0]["fields"]["interaction"],
        ).status_code
        == 400
    )


def test_second_factor_options_need_the_password_first(http, app, owner):
    add_passkey(owner, device())
    browser = browser_from(http)
    response, _, _ = __import__("tests.pages", fromlist=["start"]).start(browser, app)
    page = follow(browser, response)  # the login page: no password yet
    fields = forms(page.text)[0]["fields"]
    refused = ask_options(browser, "second-factor", csrf=fields["csrf_token"], interaction=fields["interaction"])
    assert refused.status_code == 400 and refused.json()["error_description"] == "Enter your password first."


def test_a_sign_in_challenge_does_not_answer_the_second_factor(http, app, alice, owner):
    key = device()
    add_passkey(owner, key)
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    [form] = forms(page.text)
    made = options(browser, "sign-in", csrf=form["fields"]["csrf_token"], interaction=form["fields"]["interaction"])
    response = post_assertion(browser, page, MFA, key.get(made))
    assert response.status_code == 400
    assert events(http, "passkey.failed", alice["id"])[-1]["reason"] == "challenge"


# --- the re-authentication page ------------------------------------------------------------------------------


def test_reauthentication_with_the_password_and_a_passkey(http, alice, owner, clock):
    key = device()
    add_passkey(owner, key)
    clock.advance(400)  # sudo mode has passed
    gate = account_post(owner, "/account/passkeys/remove", id=next(iter(key.credentials)))
    assert gate.status_code == 303 and gate.headers["location"].startswith(REAUTH)
    page = owner.get(REAUTH + "?next=/account")
    assert 'id="passkey-reauth"' in page.text and 'name="code"' not in page.text
    # The password alone is not enough any more: the account has a second factor.
    assert submit(owner, page, password=PASSWORD).status_code == 400
    wrong = answer(owner, page, REAUTH, "reauth", key, tamper=True)
    assert wrong.status_code == 400 and "one of your passkeys" in alert(wrong)
    fields = forms(page.text)[0]["fields"]
    made = options(owner, "reauth", csrf=fields["csrf_token"])
    confirmed = post_assertion(owner, page, REAUTH, key.get(made), password=PASSWORD)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/account?done=confirmed"
    assert events(http, "reauthentication.succeeded", alice["id"])[-1]["amr"] == ["pwd", "hwk", "user", "pin", "mfa"]
    # Now adding a passkey works without another question.
    add_passkey(owner, device())


def test_a_wrong_password_with_a_good_passkey_is_refused(http, owner, clock):
    key = device()
    add_passkey(owner, key)
    clock.advance(400)
    page = owner.get(REAUTH + "?next=/account")
    fields = forms(page.text)[0]["fields"]
    response = post_assertion(
        owner, page, REAUTH, key.get(options(owner, "reauth", csrf=fields["csrf_token"])), password="nope nope nope"
    )
    assert response.status_code == 400
    assert account_post(owner, "/account/passkeys/remove", id=next(iter(key.credentials))).status_code == 303
    assert len(passkeys_on(owner.get("/account"))) == 1  # still there: it redirected to reauth


def test_a_passwordless_sign_in_is_recent_enough_to_manage_passkeys(http, alice, owner):
    key = device()
    add_passkey(owner, key)
    browser = browser_from(http)
    page = follow(browser, browser.get("/account", follow_redirects=False))
    assert answer(browser, page, "/login/passkey", "sign-in", key).status_code == 303
    add_passkey(browser, device())  # no "confirm it's you": a passkey with user verification is two factors
    assert len(passkeys_on(browser.get("/account"))) == 2


# --- the last factor ------------------------------------------------------------------------------------------


def test_the_last_factor_stays_while_a_client_requires_mfa(http, register, alice, owner):
    key = device()
    first = add_passkey(owner, key)
    confirm_with_passkey(owner, key)
    second = add_passkey(owner, device())
    register(*SIGN_IN_CLIENT, "--require-mfa", name="Bank")
    assert account_post(owner, "/account/passkeys/remove", id=first).status_code == 303
    refused = account_post(owner, "/account/passkeys/remove", id=second)
    assert refused.status_code == 409
    assert alert(refused) == (
        "Bank requires two-step verification, so your last second factor cannot be removed. "
        "Add another passkey or an authenticator app first."
    )
    assert len(passkeys_on(owner.get("/account"))) == 1
    assert events(http, "passkey.remove_refused", alice["id"])[-1]["reason"] == "last_factor"
    # With an authenticator app as well, either may go, but not both.
    enrol_totp(owner)
    assert account_post(owner, "/account/passkeys/remove", id=second).status_code == 303
    off = account_post(owner, "/account/mfa/totp/disable")
    assert off.status_code == 409 and "Bank requires two-step verification" in alert(off)
    assert mfa_state(owner.get("/account"))[0] is True


def test_without_such_a_client_the_last_factor_may_go(http, register, alice, owner, cli):
    credential = add_passkey(owner, device())
    register(*SIGN_IN_CLIENT, "--require-mfa", name="Old Bank")
    assert (
        cli(
            "client",
            "disable",
            next(c for c in [cli("client", "list", "--json").json()] for c in c if c["name"] == "Old Bank")[
                "client_id"
            ],
        ).code
        == 0
    )
    assert account_post(owner, "/account/passkeys/remove", id=credential).status_code == 303


def test_removing_the_app_keeps_passkeys_and_says_so(http, alice, owner, app):
    enrol_totp(owner)
    add_passkey(owner, device())
    page = owner.get("/account")
    assert "Remove the authenticator app" in page.text and "Turn off two-step verification" not in page.text
    response = account_post(owner, "/account/mfa/totp/disable")
    assert notice(follow(owner, response)) == (
        "The authenticator app was removed. Signing in still asks for a passkey after your password."
    )
    # Still two steps: the password, then the passkey.
    page, _, _ = password_step(browser_from(http), app)
    assert 'id="passkey-verify"' in page.text


@pytest.mark.parametrize("round_", range(3))
def test_two_removals_racing_leave_one_factor(http, register, alice, owner, round_):
    """The last passkey and the authenticator app removed at the same moment from two browsers: one wins."""
    enrol_totp(owner)
    credential = add_passkey(owner, device())
    register(*SIGN_IN_CLIENT, "--require-mfa", name="Bank")
    csrf = owner.cookies.get("as_csrf")
    results: dict[str, int] = {}
    start = threading.Barrier(2)

    def remove(what: str, action: str, data: dict) -> None:
        start.wait()
        results[what] = owner.post(action, data={"csrf_token": csrf, **data}, follow_redirects=False).status_code

    threads = [
        threading.Thread(target=remove, args=("passkey", "/account/passkeys/remove", {"id": credential})),
        threading.Thread(target=remove, args=("totp", "/account/mfa/totp/disable", {})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [303, 409], results
    page = owner.get("/account")
    assert len(passkeys_on(page)) + int(mfa_state(page)[0]) == 1


# --- the password-reset page -----------------------------------------------------------------------------


def test_a_passkey_only_account_resets_its_password_with_a_passkey(make_app, mailbox, alice):
    from tests.emails import APP_MAIL, open_link

    site = make_app(smtp_url=mailbox.url, **APP_MAIL)
    owner = browser_from(site)
    account_sign_in(owner)
    key = device(uv=False)
    add_passkey(owner, key)
    page = site.get("/password/forgot")
    assert submit(site, page, email="alice@example.com").status_code == 200
    page, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    assert 'id="passkey-reset"' in page.text and 'name="code"' not in page.text
    new = "seventeen purple giraffes"
    # The password alone is not enough: the inbox must not take the account over.
    alone = submit(site, page, password=new)
    assert alone.status_code == 400 and alert(alone) == "Confirm with one of your passkeys."
    fields = forms(page.text)[0]["fields"]
    made = options(site, "reset", csrf=fields["csrf_token"], token=fields["token"])
    assert [d["id"] for d in made["allowCredentials"]] == list(key.credentials)
    bad = post_assertion(site, page, "/password/reset", key.get(made, tamper=True), password=new)
    assert bad.status_code == 400 and "passkey could not be used" in alert(bad)
    made = options(site, "reset", csrf=fields["csrf_token"], token=fields["token"])
    done = post_assertion(site, page, "/password/reset", key.get(made), password=new)
    assert done.status_code == 200 and "Password changed" in done.text
    assert events(site, "passkey.used", alice["id"])[-1]["where"] == "password-reset"
    # A link that is used up gives no more options.
    assert ask_options(site, "reset", csrf=fields["csrf_token"], token=fields["token"]).status_code == 400
