"""Password reset through HTTP with a real SMTP server: "Forgot your password?" answers the same for every
address, links are single use, expire, are superseded and die with any password change, accounts with a
second factor need a code too, and a reset ends every session and refresh-token family and tells the user."""

from __future__ import annotations

import html
import re
import time
import uuid

import pytest

from tests.emails import APP_MAIL, open_link, path_of
from tests.helpers import PASSWORD, basic, forms, submit
from tests.mailbox import link_to, text_of
from tests.pages import (
    SIGN_IN_CLIENT,
    account_post,
    account_sign_in,
    alert,
    browser_from,
    enrol,
    sign_in_to,
    start,
    tokens,
)

NEW = "seventeen purple giraffes"
EXPIRED = "This link has expired, was already used, or a newer one was sent since."


@pytest.fixture
def site(make_app, mailbox):  # type: ignore[no-untyped-def]
    return make_app(smtp_url=mailbox.url, **APP_MAIL)


@pytest.fixture
def client(register) -> dict:  # type: ignore[no-untyped-def]
    return register(*SIGN_IN_CLIENT, name="Example App")


def h1(page) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.search(r"<h1>(.*?)</h1>", page.text, re.DOTALL).group(1).strip())


def forgot(http, email: str = "alice@example.com"):  # type: ignore[no-untyped-def]
    page = http.get("/password/forgot")
    assert page.status_code == 200, page.text
    return submit(http, page, email=email)


def can_sign_in(http, password: str, username: str = "alice") -> bool:  # type: ignore[no-untyped-def]
    """Does the login page accept this password (in a new browser)? With a second factor, it then asks for it."""
    fresh = browser_from(http, "10.9.9.9")
    response = fresh.get("/account", follow_redirects=False)
    page = fresh.get(response.headers["location"])
    answer = submit(fresh, page, username=username, password=password)
    return answer.status_code == 303


def events(cli, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e for e in cli("audit", "list", "--json").json() if e["event"] == name]


def queue_settled(cli) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while cli("mail", "queue", "--json").json():
        assert time.monotonic() < deadline, "the outbox did not empty"
        time.sleep(0.1)


# --- asking for a link ------------------------------------------------------------------------------


def test_login_page_links_to_forgot_password(site, client):
    login = site.get(start(site, client)[0].headers["location"])
    assert '<a href="/password/forgot">Forgot your password?</a>' in login.text
    (form,) = forms(site.get("/password/forgot").text)
    assert form["action"] == "/password/forgot" and set(form["fields"]) == {"csrf_token", "email"}


def test_reset_can_be_turned_off(make_app, client):
    http = make_app(password_reset=False)
    login = http.get(start(http, client)[0].headers["location"])
    assert "/password/forgot" not in login.text
    for path in ("/password/forgot", "/password/reset?token=x"):
        page = http.get(path)
        assert page.status_code == 404 and h1(page) == "Password reset is off"


def test_reset_by_email_link(site, cli, mailbox, alice):
    sent = forgot(site, "Alice@Example.com")
    assert sent.status_code == 200 and h1(sent) == "Check your email"
    page, message = open_link(site, mailbox, "alice@example.com", "/password/reset")
    assert message["Subject"] == "Reset your password"
    assert "for 30 minutes" in text_of(message) and "alice" in text_of(message)
    assert h1(page) == "Choose a new password"
    (form,) = forms(page.text)
    assert set(form["fields"]) == {"csrf_token", "token", "username", "password"}, "no code without a second factor"
    done = submit(site, page, password=NEW)
    assert done.status_code == 200 and h1(done) == "Password changed"
    assert not can_sign_in(site, PASSWORD) and can_sign_in(site, NEW)
    changed = mailbox.last("alice@example.com", after=1)
    assert changed["Subject"] == "Your password was changed"
    assert link_to(changed, "/password/forgot")
    assert [e["data"]["found"] for e in events(cli, "password.reset_requested")] == [True]
    assert events(cli, "password.reset")[0]["user_id"] == alice["id"]
    # Single use: the page and its POST are gone.
    again = site.get(path_of(link_to(message, "/password/reset")))
    assert again.status_code == 400 and EXPIRED in alert(again)
    replay = submit(site, page, password="another fine password 42")
    assert replay.status_code == 400 and EXPIRED in alert(replay)
    assert can_sign_in(site, NEW)


def test_the_answer_is_the_same_for_unknown_and_disabled_addresses(site, cli, mailbox, alice):
    cli("user", "create", "--username", "dan", "--email", "dan@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    cli("user", "disable", "dan")
    known = forgot(site, "alice@example.com")
    unknown = forgot(site, "nobody@example.com")
    disabled = forgot(site, "dan@example.com")
    assert known.status_code == unknown.status_code == disabled.status_code == 200
    assert (
        known.text.replace("alice@example.com", "X")
        == unknown.text.replace("nobody@example.com", "X")
        == disabled.text.replace("dan@example.com", "X")
    )
    mailbox.last("alice@example.com")
    queue_settled(cli)
    assert mailbox.to("nobody@example.com") == [] and mailbox.to("dan@example.com") == []
    assert sorted(e["data"]["found"] for e in events(cli, "password.reset_requested")) == [False, False, True]


@pytest.mark.parametrize("email", ["", "alice", "alice@example", "a@b.c, d@e.f", "x" * 400 + "@example.com"])
def test_a_malformed_address_is_a_form_error(site, mailbox, email):
    page = forgot(site, email)
    assert page.status_code == 400 and "Enter the email address of your account" in alert(page)
    time.sleep(0.3)
    assert mailbox.messages == []


def test_forms_need_their_csrf_token(site, alice, mailbox):
    site.get("/password/forgot")
    assert site.post("/password/forgot", data={"email": "alice@example.com"}).status_code == 403
    forgot(site)
    page, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    token = forms(page.text)[0]["fields"]["token"]
    assert site.post("/password/reset", data={"token": token, "password": NEW}).status_code == 403
    assert can_sign_in(site, PASSWORD)


def test_requests_are_throttled_per_address_whether_or_not_it_has_an_account(make_app, mailbox, alice):
    http = make_app(smtp_url=mailbox.url, rate_limit_mail_address="1/hour", **APP_MAIL)
    for email in ("alice@example.com", "nobody@example.com"):
        assert forgot(http, email).status_code == 200
        limited = forgot(http, email)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    # A fresh cache prefix: with Redis the first app's requests from this address would count here too.
    http = make_app(
        smtp_url=mailbox.url, rate_limit_mail_ip="2/hour", cache_prefix=f"reset-ip-test:{uuid.uuid4().hex}:", **APP_MAIL
    )
    assert forgot(http, "a1@example.com").status_code == 200
    assert forgot(http, "a2@example.com").status_code == 200
    assert forgot(http, "a3@example.com").status_code == 429


# --- the link -----------------------------------------------------------------------------------


def test_tampered_and_malformed_links(site, mailbox, alice):
    forgot(site)
    message = mailbox.last("alice@example.com")
    url = path_of(link_to(message, "/password/reset"))
    for bad in (
        url[:-1] + ("A" if not url.endswith("A") else "B"),
        "/password/reset",
        "/password/reset?token=",
        "/password/reset?token=" + "y" * 300,
    ):
        page = site.get(bad)
        assert page.status_code == 400 and EXPIRED in alert(page), bad
    page = site.get(url)
    fields = forms(page.text)[0]["fields"]
    forged = site.post("/password/reset", data={**fields, "token": fields["token"] + "x", "password": NEW})
    assert forged.status_code == 400 and EXPIRED in alert(forged)
    assert can_sign_in(site, PASSWORD)


def test_an_expired_link_is_refused(site, mailbox, alice, clock):
    forgot(site)
    page, message = open_link(site, mailbox, "alice@example.com", "/password/reset")
    clock.advance(1800 + 30)
    assert submit(site, page, password=NEW).status_code == 400
    assert site.get(path_of(link_to(message, "/password/reset"))).status_code == 400
    clock.advance(-(1800 + 30))
    assert can_sign_in(site, PASSWORD)


def test_a_newer_link_supersedes_the_older(site, mailbox, alice):
    forgot(site)
    first, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    forgot(site)
    second, _ = open_link(site, mailbox, "alice@example.com", "/password/reset", after=1)
    stale = submit(site, first, password=NEW)
    assert stale.status_code == 400 and EXPIRED in alert(stale)
    assert submit(site, second, password=NEW).status_code == 200


def test_a_password_change_voids_the_links(site, mailbox, alice):
    forgot(site)
    page, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    account = browser_from(site, "10.1.1.1")
    account_sign_in(account)
    changed = account_post(
        account, "/account/password", current_password=PASSWORD, new_password=NEW, confirm_password=NEW
    )
    assert changed.status_code == 303, changed.text
    void = submit(site, page, password="yet another good passphrase")
    assert void.status_code == 400 and EXPIRED in alert(void)
    assert can_sign_in(site, NEW)


def test_a_weak_password_keeps_the_link_usable(site, mailbox, alice):
    forgot(site)
    page, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    for weak, why in (
        ("short", "at least 12"),
        ("alice@example.com", "username or email"),
        ("x" * 2000, "at most 128"),
    ):
        refused = submit(site, page, password=weak)
        assert refused.status_code == 400 and why in alert(refused)
    assert submit(site, page, password=NEW).status_code == 200


def test_concurrent_uses_of_one_link_change_the_password_once(site, cli, mailbox, alice):
    from concurrent.futures import ThreadPoolExecutor

    forgot(site)
    page, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    fields = forms(page.text)[0]["fields"]
    cookie = site.cookies.get("as_csrf")
    browsers = [browser_from(site, f"10.2.0.{i}") for i in range(4)]
    for b in browsers:
        b.cookies.set("as_csrf", cookie)
    choices = [f"concurrent passphrase number {i}" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda i: browsers[i].post("/password/reset", data={**fields, "password": choices[i]}), range(4))
        )
    assert sorted(r.status_code for r in results) == [200, 400, 400, 400]
    winner = choices[[r.status_code for r in results].index(200)]
    assert can_sign_in(site, winner)
    assert len(events(cli, "password.reset")) == 1


# --- what a reset ends ------------------------------------------------------------------------------


def test_a_reset_ends_every_session_and_refresh_token(site, mailbox, alice, client):
    app_browser = browser_from(site, "10.3.0.1")
    callback, verifier, _ = sign_in_to(app_browser, client, scope="openid offline_access")
    grant = tokens(app_browser, client, callback, verifier)
    assert grant.get("refresh_token")
    account = browser_from(site, "10.3.0.2")
    account_sign_in(account)

    forgot(site)
    page, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    assert submit(site, page, password=NEW).status_code == 200

    refreshed = site.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    introspected = site.post(
        "/introspect",
        data={"token": grant["access_token"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert introspected.json() == {"active": False}
    for browser in (app_browser, account):
        assert browser.get("/account", follow_redirects=False).headers["location"].startswith("/login")


# --- accounts with a second factor -----------------------------------------------------------------------


def test_an_account_with_a_second_factor_needs_a_code_too(site, cli, mailbox, alice):
    phone = browser_from(site, "10.4.0.1")
    account_sign_in(phone)
    authenticator, backup = enrol(phone)

    forgot(site)
    page, _ = open_link(site, mailbox, "alice@example.com", "/password/reset")
    assert "code" in forms(page.text)[0]["inputs"]
    missing = submit(site, page, password=NEW)
    assert missing.status_code == 400 and "That code is not right" in alert(missing)
    wrong = submit(site, page, password=NEW, code=authenticator.wrong())
    assert wrong.status_code == 400
    assert [e["data"]["reason"] for e in events(cli, "password.reset_failed")] == ["code", "code"]
    assert can_sign_in(site, PASSWORD), "the password is unchanged so far"
    done = submit(site, page, password=NEW, code=backup[0])
    assert done.status_code == 200 and h1(done) == "Password changed"


def test_wrong_codes_on_the_reset_page_are_throttled(make_app, mailbox, alice):
    http = make_app(smtp_url=mailbox.url, login_max_failures=3, **APP_MAIL)
    phone = browser_from(http, "10.5.0.1")
    account_sign_in(phone)
    authenticator, _ = enrol(phone)
    forgot(http)
    page, _ = open_link(http, mailbox, "alice@example.com", "/password/reset")
    statuses = [submit(http, page, password=NEW, code=authenticator.wrong()).status_code for _ in range(4)]
    assert statuses[:3] == [400, 400, 400] and statuses[3] == 429
    locked = submit(http, page, password=NEW, code=authenticator.code())
    assert locked.status_code == 429, "a right code is refused while locked"
