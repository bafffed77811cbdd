"""Sudo mode through HTTP: changes to how the account is protected (a new password, setting up or turning
off TOTP, new backup codes) need the password, and the second factor when enrolled, proven within
AUTHSERVER_REAUTH_SECONDS; otherwise /account/reauth and back. No GET changes anything: enrolment
starts with a POST. The re-authentication page goes through the sign-in throttle."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.helpers import PASSWORD, MovableClock, follow, forms, submit
from tests.pages import (
    GENERIC,
    SECRET_RE,
    Authenticator,
    account_post,
    account_sign_in,
    alert,
    assert_page_headers,
    backup_codes_on,
    browser_from,
    enrol,
    mfa_state,
    notice,
    open_enrolment,
    reauthenticate,
    walk,
)

NEW_PASSWORD = "violet elephant tangerine marmalade"
WRONG = "not the right password"
WINDOW = 2  # seconds of sudo mode in the tests that wait for it to end


def reauth_location(back_to: str = "/account") -> str:
    return "/account/reauth?" + urlencode({"next": back_to})


def change_password(http, current: str = PASSWORD, new: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    return account_post(http, "/account/password", current_password=current, new_password=new, confirm_password=new)


def password_works(http, password: str) -> bool:  # type: ignore[no-untyped-def]
    browser = browser_from(http)
    page = follow(browser, browser.get("/account", follow_redirects=False))
    response = submit(browser, page, username="alice", password=password)
    if response.status_code == 400:
        assert alert(response) == GENERIC
        return False
    return response.status_code == 303


def wait_out_sudo(clock: MovableClock) -> None:
    clock.advance(WINDOW + 1)


# --- the window ------------------------------------------------------------------------------------


def test_a_fresh_sign_in_is_recent_enough_and_then_it_runs_out(make_app, alice, clock):
    http = make_app(reauth_seconds=WINDOW)
    account_sign_in(http)
    assert change_password(http).status_code == 303  # signed in just now: no further question
    assert password_works(http, NEW_PASSWORD)

    wait_out_sudo(clock)
    response = change_password(http, NEW_PASSWORD, "tangerine violet marmalade elephant")
    assert response.status_code == 303 and response.headers["location"] == reauth_location()
    assert password_works(http, NEW_PASSWORD), "nothing changed"

    # The re-authentication page: the password only (no second factor), CSRF-protected, no-store.
    page = http.get(response.headers["location"], follow_redirects=False)
    assert page.status_code == 200
    assert_page_headers(page)
    form = forms(page.text)[0]
    assert form["action"] == "/account/reauth" and form["method"] == "post"
    assert set(form["fields"]) == {"csrf_token", "next", "password"}
    assert form["fields"]["next"] == "/account"
    assert form["inputs"]["password"]["autocomplete"] == "current-password"

    wrong = submit(http, page, password=WRONG)
    assert wrong.status_code == 400 and alert(wrong) == "That password is not right."
    assert change_password(http, NEW_PASSWORD, "tangerine violet marmalade elephant").status_code == 303
    assert password_works(http, NEW_PASSWORD), "still nothing changed"

    confirmed = submit(http, wrong, password=NEW_PASSWORD)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/account?done=confirmed"
    assert notice(follow(http, confirmed)) == (
        "Thank you. For the next few minutes you can change your password "
        "and two-step verification without confirming again."
    )
    final = change_password(http, NEW_PASSWORD, "tangerine violet marmalade elephant")
    assert final.status_code == 303 and final.headers["location"] == "/account?done=password"
    assert password_works(http, "tangerine violet marmalade elephant")

    # The confirmation runs out like a sign-in does.
    wait_out_sudo(clock)
    assert change_password(http, "tangerine violet marmalade elephant").headers["location"] == reauth_location()


def test_sudo_mode_belongs_to_one_browser_session(make_app, alice, clock):
    http = make_app(reauth_seconds=WINDOW)
    account_sign_in(http)
    other = browser_from(http)
    account_sign_in(other)
    wait_out_sudo(clock)
    assert reauthenticate(http).status_code == 303
    assert change_password(other).headers["location"] == reauth_location()  # the other browser did not confirm
    assert change_password(http).status_code == 303


def test_a_second_factor_must_be_part_of_the_recent_proof(http, app, alice):
    """Signed in with the password only (TOTP came later): the sign-in is recent, but does not cover the
    factor the account has now; one with both factors does."""
    account_sign_in(http)
    authenticator, _ = enrol(http)
    for action in ("/account/mfa/totp/disable", "/account/mfa/backup-codes", "/account/password"):
        response = account_post(
            http, action, current_password=PASSWORD, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
        )
        assert response.status_code == 303 and response.headers["location"] == reauth_location(), action
    page = http.get(reauth_location(), follow_redirects=False)
    assert set(forms(page.text)[0]["fields"]) == {"csrf_token", "next", "password", "code"}
    assert forms(page.text)[0]["inputs"]["code"]["autocomplete"] == "one-time-code"
    # The password alone is not enough now.
    assert reauthenticate(http).status_code == 400
    assert account_post(http, "/account/mfa/backup-codes").status_code == 303

    # A browser that signed in with both factors just now is in sudo mode straight away.
    both = browser_from(http)
    account_sign_in(both, code=authenticator.code)
    response = account_post(both, "/account/mfa/backup-codes")
    assert response.status_code == 200 and len(backup_codes_on(response)) == 10


def test_a_backup_code_confirms_too_and_is_spent(http, app, alice):
    """Lost the phone: a backup code proves the second factor on the re-authentication page."""
    account_sign_in(http)
    _, codes = enrol(http)
    assert reauthenticate(http, code=codes[0]).status_code == 303
    assert mfa_state(http.get("/account")) == (True, 9)
    response = account_post(http, "/account/mfa/totp/disable")
    assert response.status_code == 303 and notice(follow(http, response)) == "Two-step verification is off."


def test_a_spent_backup_code_does_not_confirm(http, app, alice):
    account_sign_in(http)
    authenticator, codes = enrol(http)
    assert reauthenticate(http, code=codes[0]).status_code == 303
    other = browser_from(http)
    account_sign_in(other, code=authenticator.code)
    response = reauthenticate(other, code=codes[0])
    assert response.status_code == 400
    assert mfa_state(http.get("/account")) == (True, 9)


# --- where it sends you back -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/logout",
        "/token",
        "/account/../logout",
        "javascript:alert(1)",
        "/accountx",
        "/account\\..",
        "/account#x",
        "",
    ],
)
def test_the_way_back_stays_on_the_account_pages(http, alice, target):
    account_sign_in(http)
    page = http.get("/account/reauth?" + urlencode({"next": target}), follow_redirects=False)
    assert forms(page.text)[0]["fields"]["next"] == "/account"
    posted = http.post(
        "/account/reauth",
        data={"csrf_token": forms(page.text)[0]["fields"]["csrf_token"], "password": PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert posted.status_code == 303 and posted.headers["location"] == "/account?done=confirmed"


def test_reauthentication_without_a_session_signs_in_and_goes_on(http, alice):
    response = http.get(reauth_location("/account/mfa/totp"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?interaction=")
    final, seen = walk(http, response)
    assert seen == ["login"]
    assert final.status_code == 303 and final.headers["location"] == "/account/mfa/totp"


# --- enrolment: a POST starts it, sudo mode guards it ----------------------------------------------


def test_a_get_never_starts_or_replaces_a_secret(http, alice):
    account_sign_in(http)
    page = http.get("/account/mfa/totp", follow_redirects=False)
    assert page.status_code == 200 and SECRET_RE.search(page.text) is None  # only a button to start
    form = forms(page.text)[0]
    assert form["action"] == "/account/mfa/totp/start" and form["method"] == "post"
    assert http.get("/account/mfa/totp/start", follow_redirects=False).status_code == 405

    _, secret = open_enrolment(http)
    for _ in range(3):  # reloading shows the same secret: nothing is replaced by a GET
        again = http.get("/account/mfa/totp", follow_redirects=False)
        assert SECRET_RE.search(again.text).group(1) == secret
    response = submit(http, again, code=Authenticator(secret).code())
    assert response.status_code == 200 and len(backup_codes_on(response)) == 10


def test_enrolment_needs_sudo_mode_to_start_show_and_confirm(make_app, alice, clock):
    http = make_app(reauth_seconds=WINDOW)
    account_sign_in(http)
    _, secret = open_enrolment(http)
    wait_out_sudo(clock)
    # Showing the pending secret, confirming it and starting again all ask to confirm it's you first.
    shown = http.get("/account/mfa/totp", follow_redirects=False)
    assert shown.status_code == 303 and shown.headers["location"] == reauth_location("/account/mfa/totp")
    assert secret not in shown.text
    confirm = account_post(http, "/account/mfa/totp", code=Authenticator(secret).code())
    assert confirm.status_code == 303 and confirm.headers["location"] == reauth_location("/account/mfa/totp")
    restart = account_post(http, "/account/mfa/totp/start")
    assert restart.headers["location"] == reauth_location("/account/mfa/totp")
    assert mfa_state(http.get("/account")) == (False, None)

    # Confirmed: back on the enrolment page with the same secret, which now turns TOTP on.
    response = reauthenticate(http, back_to="/account/mfa/totp")
    assert response.status_code == 303 and response.headers["location"] == "/account/mfa/totp"
    page = follow(http, response)
    assert SECRET_RE.search(page.text).group(1) == secret
    done = submit(http, page, code=Authenticator(secret).code())
    assert done.status_code == 200 and len(backup_codes_on(done)) == 10
    assert mfa_state(http.get("/account")) == (True, 10)


# --- the re-authentication page is throttled like sign-in ----------------------------------------------


def test_wrong_codes_on_the_reauthentication_page_lock_like_sign_in(make_app, app, alice):
    # A ten-minute lock: on a loaded machine the steps below can outlast the default 30 s one.
    http = make_app(login_max_failures=3, login_lock_seconds=600)
    account_sign_in(http)
    authenticator, codes = enrol(http)
    # Right password, wrong codes: a TOTP code of no step near now, and a backup code one character off
    # (its last character changed to one it is not: "x" on its own was the code itself one time in 31).
    near_miss = codes[0][:-1] + ("y" if codes[0].endswith("x") else "x")
    for code in (authenticator.wrong(), "000000", near_miss):
        response = reauthenticate(http, code=code)
        assert response.status_code == 400
    # Locked: neither a right code nor an unused backup code is checked now ...
    for code in (authenticator.code(), codes[1]):
        response = reauthenticate(http, code=code)
        assert response.status_code == 429 and "Too many wrong attempts" in alert(response)
    assert mfa_state(http.get("/account")) == (True, 10), "the backup code was not spent"
    assert account_post(http, "/account/mfa/backup-codes").headers["location"] == reauth_location()
    # ... and signing in from this address is refused too (the same counters as sign-in).
    fresh = browser_from(http)
    page = follow(fresh, fresh.get("/account", follow_redirects=False))
    assert alert(submit(fresh, page, username="alice", password=PASSWORD)) == GENERIC
