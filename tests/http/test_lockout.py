"""Login throttling through HTTP: the lock after repeated failures (per account and address, and the
higher account-wide one that a browser known to the account passes), exponential back-off, the
per-address limit (IPv6 per /64), wrong second-factor codes and account-page passwords counting too,
and answers that do not tell a locked account from a wrong password or an unknown user. (No timings
are asserted; lock expiry uses short locks. Parallel attempts: tests/ops/test_guessing.py.)"""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers import PASSWORD, follow, forms, submit
from tests.pages import (
    DEVICE_COOKIE,
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
    set_cookie_names,
    sign_in_to,
    start,
    walk,
)

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
            response = account_post(
                http, "/account/password", current_password=WRONG, new_password=new, confirm_password=new
            )
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
        response = account_post(
            http, "/account/password", current_password=PASSWORD, new_password=new, confirm_password=new
        )
        assert response.status_code == 429 and "Too many wrong attempts" in alert(response)
        assert refused(LoginForm(browser_from(http), app).attempt("alice", new))


# --- locks per address, the account-wide lock, the known-device cookie ------------------------------

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"


def device_cookie(http) -> str | None:  # type: ignore[no-untyped-def]
    return http.cookies.get(DEVICE_COOKIE)


def carrying(http, cookie: str, host: str):  # type: ignore[no-untyped-def]
    """A browser at `host` whose only cookie is the known-device cookie `cookie` (say, the owner's laptop on
    another network, signed out)."""
    other = browser_from(http, host=host)
    other.cookies.set(DEVICE_COOKIE, cookie, domain="testserver.local")
    return other


def test_hammering_from_one_address_locks_that_address_not_the_owner(http, app):
    attacker = LoginForm(browser_from(http, host=ATTACKER), app)
    for _ in range(15):  # far beyond every limit but the per-address ones
        assert refused(attacker.attempt("alice", WRONG))
    assert refused(attacker.attempt("alice", PASSWORD))
    # The owner, elsewhere, in a browser that has never signed in: not locked out.
    _, _, seen = sign_in_to(browser_from(http, host=OWNER), app)
    assert seen == ["login", "consent"]


def test_the_account_wide_lock_lets_only_known_browsers_in(make_app, cli, app):
    http = make_app(login_max_failures=3, login_account_max_failures=6)
    create_user(cli, "bob")
    owner = browser_from(http, host=OWNER)
    sign_in_to(owner, app)
    known = device_cookie(owner)
    assert known
    # Attackers from two addresses: 3 failures each, 6 on the account: locked account-wide.
    for host in ("198.51.100.1", "198.51.100.2"):
        form = LoginForm(browser_from(http, host=host), app)
        for _ in range(3):
            assert refused(form.attempt("alice", WRONG))
    # A browser that never signed in to alice, from a clean address: refused, the right password too.
    assert refused(LoginForm(browser_from(http, host="192.0.2.50"), app).attempt("alice", PASSWORD))
    # The owner's browser passes the account-wide lock, from their address or from a new one ...
    for host in (OWNER, "192.0.2.51"):
        response = LoginForm(carrying(http, known, host), app).attempt("alice", PASSWORD)
        assert accepted(response), response.text
    # ... but not the lock of an address the attacker used.
    assert refused(LoginForm(carrying(http, known, "198.51.100.1"), app).attempt("alice", PASSWORD))
    # The mark is bound to alice: it does nothing for bob, locked the same way.
    for host in ("198.51.100.3", "198.51.100.4"):
        form = LoginForm(browser_from(http, host=host), app)
        for _ in range(3):
            assert refused(form.attempt("bob", WRONG))
    assert refused(LoginForm(carrying(http, known, OWNER), app).attempt("bob", PASSWORD))
    # A forged or altered cookie is worth nothing.
    issued, tag = known.split("~")[0].split("-", 1)
    for forged in (f"{issued}-{'A' * len(tag)}", f"{int(issued) + 1}-{tag}", "garbage", "~" * 50):
        assert refused(LoginForm(carrying(http, forged, "192.0.2.52"), app).attempt("alice", PASSWORD)), forged


def test_the_known_device_cookie(make_app, cli, app, alice):
    http = make_app(known_device_ttl=30 * 86400)
    form = LoginForm(http, app)
    failed = form.attempt("alice", WRONG)
    assert DEVICE_COOKIE not in set_cookie_names(failed)  # only a complete sign-in marks the browser
    response = form.attempt("alice", PASSWORD)
    assert accepted(response)
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(DEVICE_COOKIE + "=")]
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert "httponly" in attributes and attributes["samesite"].lower() == "samesite=lax"
    assert attributes["max-age"] == "Max-Age=2592000" and attributes["path"] == "Path=/"
    value = device_cookie(http)
    assert alice["id"] not in value and "alice" not in value.lower()  # it names no account
    # A second account signing in on the same browser adds its mark and keeps the first.
    create_user(cli, "bob")
    sign_in_to(http, app, username="bob", prompt="login")
    assert value.split("~")[0] in device_cookie(http).split("~")
    assert len(device_cookie(http).split("~")) == 2
    # Signing out keeps it: the browser still knows both accounts.
    http.get("/logout")
    assert len(device_cookie(http).split("~")) == 2


def test_the_known_device_cookie_is_secure_and_host_only_under_https(env, alice, register):
    from starlette.testclient import TestClient

    from authserver.app import create_app
    from authserver.settings import Settings

    client = register(*SIGN_IN_CLIENT, name="Photo App")
    with TestClient(create_app(Settings(issuer="https://testserver")), base_url="https://testserver") as https:
        response, _, _ = start(https, client)
        response = submit(https, follow(https, response), username="alice", password=PASSWORD)
        assert accepted(response), response.text
        [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith("__Host-" + DEVICE_COOKIE)]
        assert "secure" in header.lower() and "httponly" in header.lower()


def test_ipv6_addresses_count_per_64(make_app, app):
    http = make_app(login_max_failures=3)
    for i in range(3):  # three addresses of one /64, as privacy addresses would rotate
        assert refused(LoginForm(browser_from(http, host=f"2001:db8:1:2::{i + 1}"), app).attempt("alice", WRONG))
    # Every address of that /64 is locked now, an unused one too ...
    assert refused(LoginForm(browser_from(http, host="2001:db8:1:2:ffff:1:2:3"), app).attempt("alice", PASSWORD))
    # ... while the next /64 is another source.
    _, _, seen = sign_in_to(browser_from(http, host="2001:db8:1:3::1"), app)
    assert seen == ["login", "consent"]


def test_ipv4_mapped_addresses_count_as_their_ipv4_address(make_app, app):
    http = make_app(login_max_failures=2)
    assert refused(LoginForm(browser_from(http, host="192.0.2.77"), app).attempt("alice", WRONG))
    assert refused(LoginForm(browser_from(http, host="::ffff:192.0.2.77"), app).attempt("alice", WRONG))
    assert refused(LoginForm(browser_from(http, host="192.0.2.77"), app).attempt("alice", PASSWORD))


def test_a_password_typed_as_the_username_is_stored_nowhere(http, cli, app, caplog):
    """Issue 9 finding 13: a failed sign-in for an unknown name keeps a keyed hash of the name, never the
    text (often a password pasted into the wrong field): not in the audit table, not in any log record,
    not in the cache's keys."""
    import logging
    import os

    pasted = "Pasted-Secret-0f3c9a"
    caplog.set_level(logging.DEBUG)
    form = LoginForm(http, app)
    for _ in range(2):
        assert refused(form.attempt(pasted, WRONG))
        assert refused(form.attempt(f"  {pasted.upper()} ", WRONG))
    audit = cli("audit", "list", "--json")
    assert audit.code == 0, audit.err
    failed = [e for e in audit.json() if e["event"] == "login.failed"]
    assert len(failed) == 4
    # One keyed hash for every spelling of the name (so attempts on it are counted together) ...
    assert len({e["data"]["account"] for e in failed}) == 1
    assert re.fullmatch(r"name:[0-9a-f]{32}", failed[0]["data"]["account"])
    # ... and the text itself nowhere.
    assert pasted.lower() not in audit.out.lower()
    logged = [r for r in caplog.records if r.name.startswith("authserver")]
    assert any(r.getMessage() == "login.failed" for r in logged), "the failures were logged"
    for record in logged:
        assert pasted.lower() not in repr(record.__dict__).lower(), record.__dict__
    redis_url = os.environ.get("AUTHSERVER_REDIS_URL")
    if redis_url:
        import redis

        keys = redis.Redis.from_url(redis_url).keys(os.environ["AUTHSERVER_CACHE_PREFIX"] + "*")
        assert keys, "the counters are in Redis"
        assert not [k for k in keys if pasted.lower().encode() in k.lower()]
