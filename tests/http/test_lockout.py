"""Login throttling through HTTP: account lock after repeated failures, exponential back-off, the
per-IP limit, wrong second-factor codes counting too, and answers that do not tell a locked account
from a wrong password or an unknown user. (No timings are asserted; lock expiry uses short locks.)"""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers import PASSWORD, follow, forms, submit
from tests.pages import (
    GENERIC,
    SESSION,
    SIGN_IN_CLIENT,
    account_post,
    account_sign_in,
    alert,
    assert_page_headers,
    browser_from,
    create_user,
    enrol,
    mfa_state,
    password_step,
    reauthenticate,
    sign_in_to,
    start,
    walk,
)

pytestmark = pytest.mark.usefixtures("cheap_argon2")


@pytest.fixture
def alice(cli) -> dict:  # type: ignore[no-untyped-def]
    return create_user(cli)


@pytest.fixture
def app(register, alice) -> dict:  # type: ignore[no-untyped-def]
    return register(*SIGN_IN_CLIENT, name="Photo App")

WRONG = "not the right password"


class LoginForm:
    """One browser sitting on the login page of one sign-in, submitting it again and again."""

    def __init__(self, http, client: dict) -> None:  # type: ignore[no-untyped-def]
        self.http = http
        response, _, _ = start(http, client)
        self.page = follow(http, response)
        assert self.page.status_code == 200
        self.interaction = forms(self.page.text)[0]["fields"]["interaction"]

    def attempt(self, username: str, password: str):  # type: ignore[no-untyped-def]
        response = submit(self.http, self.page, username=username, password=password)
        if response.status_code == 400:
            self.page = response  # the form is shown again, with the same interaction
        return response


def refused(response) -> bool:  # type: ignore[no-untyped-def]
    """The one generic refusal: 400, the login form again, the generic message, no session."""
    if response.status_code != 400:
        return False
    assert alert(response) == GENERIC
    assert forms(response.text)[0]["action"] == "/login"
    assert SESSION not in response.headers.get("set-cookie", "")
    return True


def accepted(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 303 and not response.headers["location"].startswith("/login")


def normalised(response, username: str, interaction: str) -> str:  # type: ignore[no-untyped-def]
    """The page with what legitimately differs (the echoed username, the interaction id) blanked out."""
    text = response.text.replace(f'value="{username}"', 'value="USERNAME"')
    text = text.replace(interaction, "INTERACTION")
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value="CSRF"', text)


# --- the account lock -------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account(http, cli, app):
    create_user(cli, "bob")
    form = LoginForm(http, app)
    for _ in range(5):
        assert refused(form.attempt("alice", WRONG))
    wrong = form.attempt("alice", WRONG)
    right = form.attempt("alice", PASSWORD)
    assert refused(right)  # the right password, refused like a wrong one
    assert right.status_code == wrong.status_code
    assert normalised(right, "alice", form.interaction) == normalised(wrong, "alice", form.interaction)
    assert_page_headers(right)
    # The lock is on the account, whatever name it is asked for by.
    for name in ("ALICE", "alice@example.com", " Alice@Example.com "):
        assert refused(form.attempt(name, PASSWORD))
    assert http.cookies.get(SESSION) is None
    # Other accounts on the same IP (well under the per-IP limit) are not affected.
    _, _, seen = sign_in_to(browser_from(http), app, username="bob")
    assert seen == ["login", "consent"]


def test_unknown_username_gets_the_same_answer_at_every_attempt(http, app):
    known, unknown = LoginForm(http, app), LoginForm(browser_from(http), app)
    for attempt in range(1, 8):
        answers = [
            (known.attempt("alice", WRONG), "alice", known.interaction),
            (unknown.attempt("nobody-here", WRONG), "nobody-here", unknown.interaction),
            (unknown.attempt("nobody@example.com", PASSWORD), "nobody@example.com", unknown.interaction),
        ]
        if attempt >= 6:  # alice is locked by now: her right password too
            answers.append((known.attempt("alice", PASSWORD), "alice", known.interaction))
        statuses = {response.status_code for response, _, _ in answers}
        messages = {alert(response) for response, _, _ in answers}
        pages = {normalised(response, name, interaction) for response, name, interaction in answers}
        assert statuses == {400}, (attempt, statuses)
        assert messages == {GENERIC}, (attempt, messages)
        assert len(pages) == 1, attempt
        assert len({tuple(sorted(r.headers.keys())) for r, _, _ in answers}) == 1, attempt


def test_a_disabled_account_gets_the_same_answer(http, cli, app):
    create_user(cli, "bob")
    assert cli("user", "disable", "bob").code == 0
    form = LoginForm(http, app)
    right = form.attempt("bob", PASSWORD)
    unknown = form.attempt("nobody-here", PASSWORD)
    assert refused(right) and refused(unknown)
    assert normalised(right, "bob", form.interaction) == normalised(unknown, "nobody-here", form.interaction)


def lock_events(cli) -> list[int]:  # type: ignore[no-untyped-def]
    """The lock durations chosen so far, from the audit trail."""
    result = cli("audit", "list", "--json")
    assert result.code == 0, result.err
    return [e["data"]["seconds"] for e in result.json() if e["event"] == "account.locked"]


def test_the_lock_expires_and_backs_off_exponentially(make_app, cli, app):
    http = make_app(login_lock_seconds=1, login_max_lock_seconds=2)
    form = LoginForm(http, app)
    for _ in range(5):
        assert refused(form.attempt("alice", WRONG))
    assert refused(form.attempt("alice", PASSWORD))
    assert lock_events(cli) == [1]
    time.sleep(1.2)
    # Over: the next failure locks again, for twice as long ...
    assert refused(form.attempt("alice", WRONG))
    assert lock_events(cli) == [1, 2]
    assert refused(form.attempt("alice", PASSWORD))
    time.sleep(2.2)
    # ... but never longer than login_max_lock_seconds.
    assert refused(form.attempt("alice", WRONG))
    assert lock_events(cli) == [1, 2, 2]
    time.sleep(2.2)
    # After the lock the right password works again ...
    response = form.attempt("alice", PASSWORD)
    assert accepted(response), response.text
    final, seen = walk(http, response)
    assert seen == ["consent"]
    assert final.headers["location"].startswith(app["redirect_uris"][0])
    # ... and the success cleared the count: one more failure is just a failure.
    form = LoginForm(browser_from(http), app)
    assert refused(form.attempt("alice", WRONG))
    assert lock_events(cli) == [1, 2, 2]
    assert accepted(form.attempt("alice", PASSWORD))


def test_failures_spread_over_usernames_lock_the_ip(make_app, cli, app):
    http = make_app(login_ip_max_failures=3)
    create_user(cli, "bob")
    form = LoginForm(http, app)
    for name in ("carol", "dave", "bob"):
        assert refused(form.attempt(name, WRONG))
    # The IP is locked for everyone: right passwords from it are refused like wrong ones.
    for name in ("alice", "bob"):
        assert refused(form.attempt(name, PASSWORD))
    assert refused(LoginForm(browser_from(http), app).attempt("alice", PASSWORD))
    # From another address alice (and bob) can still sign in: it was the IP, not the accounts.
    elsewhere = browser_from(http, host="203.0.113.7")
    _, _, seen = sign_in_to(elsewhere, app)
    assert seen == ["login", "consent"]
    _, _, seen = sign_in_to(browser_from(http, host="203.0.113.8"), app, username="bob")
    assert seen == ["login", "consent"]


def test_wrong_second_factor_codes_count_towards_the_account_lock(http, app, alice):
    account_sign_in(http)
    authenticator, _ = enrol(http)
    form = LoginForm(browser_from(http), app)
    for _ in range(3):
        assert refused(form.attempt("alice", WRONG))
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    for _ in range(2):  # failures 4 and 5: the account is locked now
        page = submit(browser, page, code=authenticator.wrong())
        assert page.status_code == 400
    # Even a right code does not finish this sign-in any more ...
    stopped = submit(browser, page, code=authenticator.code())
    assert stopped.status_code == 400
    assert not forms(stopped.text)
    assert browser.cookies.get(SESSION) is None
    # ... and the right password gets the generic refusal (no hint that a code would be next).
    assert refused(LoginForm(browser_from(http), app).attempt("alice", PASSWORD))
    assert refused(form.attempt("alice", PASSWORD))


def test_a_backup_code_does_not_bypass_the_lock(http, app, alice):
    account_sign_in(http)
    _, backup = enrol(http)
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    # Meanwhile someone else hammers the password until the account locks.
    form = LoginForm(browser_from(http), app)
    for _ in range(5):
        assert refused(form.attempt("alice", WRONG))
    response = submit(browser, page, code=backup[0])
    assert response.status_code == 400
    assert browser.cookies.get(SESSION) is None


@pytest.mark.parametrize("where", ["password change", "re-authentication"])
def test_wrong_passwords_on_the_account_page_count_too(make_app, app, where):
    http = make_app(login_max_failures=3)
    account_sign_in(http)
    new = "violet elephant tangerine marmalade"
    if where == "re-authentication":  # the sudo-mode page, here before turning TOTP off
        authenticator, _ = enrol(http)
        for _ in range(3):
            assert reauthenticate(http, password=WRONG, code=authenticator.wrong()).status_code == 400
    else:
        for _ in range(3):
            response = account_post(http, "/account/password", current_password=WRONG, new_password=new,
                                    confirm_password=new)
            assert response.status_code == 400
    # Locked: a new sign-in with the right password is refused ...
    assert refused(LoginForm(browser_from(http), app).attempt("alice", PASSWORD))
    # ... and so is the right password on the account page (with everything else right too).
    if where == "re-authentication":
        response = reauthenticate(http, password=PASSWORD, code=authenticator.code())
        assert response.status_code == 429 and "Too many wrong attempts" in alert(response)
        off = account_post(http, "/account/mfa/totp/disable")
        assert off.status_code == 303 and off.headers["location"].startswith("/account/reauth?")
        assert mfa_state(http.get("/account"))[0] is True
    else:
        response = account_post(http, "/account/password", current_password=PASSWORD, new_password=new,
                                confirm_password=new)
        assert response.status_code == 429 and "Too many wrong attempts" in alert(response)
        assert refused(LoginForm(browser_from(http), app).attempt("alice", new))
