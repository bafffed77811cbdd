"""Changing the account's email address through HTTP with a real SMTP server: sudo mode, a link to the new
address before anything changes, a notice to the old one, no disclosure of addresses other accounts have,
and links that are single use, expire, are superseded, and cannot take an address another account got."""

from __future__ import annotations

import time

import pytest

from tests.emails import APP_MAIL, confirm, open_link, path_of
from tests.helpers import submit
from tests.mailbox import link_to, text_of
from tests.pages import account_csrf, account_post, account_sign_in, alert, browser_from, create_user, notice

EXPIRED = "This link has expired, was already used, or a newer one was sent since."


@pytest.fixture
def site(make_app, mailbox):  # type: ignore[no-untyped-def]
    return make_app(smtp_url=mailbox.url, **APP_MAIL)


def email_of(cli, name: str) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
    data = cli("user", "show", name, "--json").json()
    return data["email"], data["email_verified"]


def test_change_email_by_a_link_to_the_new_address(site, cli, mailbox, alice):
    account_sign_in(site)
    asked = account_post(site, "/account/email", email="Alice.New@Example.com")
    assert asked.status_code == 200
    assert notice(asked) == (
        "We sent a link to alice.new@example.com. Your address changes when you open it; until then it stays "
        "alice@example.com."
    )
    assert email_of(cli, "alice") == ("alice@example.com", False)
    page, message = open_link(site, mailbox, "alice.new@example.com", "/account/email/confirm")
    assert message["Subject"] == "Confirm your new email address" and "alice" in text_of(message)
    assert "alice.new@example.com" in page.text
    assert email_of(cli, "alice") == ("alice@example.com", False), "opening the link changes nothing"
    done = confirm(site, page)
    assert done.status_code == 200 and "is now your account's address" in done.text
    assert email_of(cli, "alice") == ("alice.new@example.com", True)
    old = mailbox.last("alice@example.com")
    assert old["Subject"] == "Your email address was changed" and "alice.new@example.com" in text_of(old)
    assert [e["user_id"] for e in cli("audit", "list", "--json").json() if e["event"] == "email.changed"] == [
        alice["id"]
    ]
    other = browser_from(site, "10.6.0.1")
    account_sign_in(other, username="alice.new@example.com")
    replay = submit(site, page)
    assert replay.status_code == 400 and EXPIRED in alert(replay)


def test_an_address_of_another_account_is_not_disclosed(site, cli, mailbox, alice):
    create_user(cli, "bob")
    account_sign_in(site)
    taken = account_post(site, "/account/email", email="bob@example.com")
    free = account_post(site, "/account/email", email="carol@example.com")
    assert taken.status_code == free.status_code == 200
    assert notice(taken).replace("bob@example.com", "X") == notice(free).replace("carol@example.com", "X")
    warning = mailbox.last("bob@example.com")
    assert warning["Subject"] == "Someone tried to use your email address"
    assert "/account/email/confirm" not in text_of(warning)
    assert email_of(cli, "alice")[0] == "alice@example.com" and email_of(cli, "bob")[0] == "bob@example.com"


@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("", "Enter an email address"),
        ("not-an-address", "Enter an email address"),
        ("a@b.c, d@e.f", "Enter an email address"),
        ("ALICE@example.com", "That is already your email address."),
    ],
)
def test_bad_addresses_are_refused(site, cli, mailbox, alice, email, error):
    account_sign_in(site)
    refused = account_post(site, "/account/email", email=email)
    assert refused.status_code == 400 and error in alert(refused)
    time.sleep(0.2)
    assert mailbox.messages == []


def test_the_change_needs_sudo_mode_csrf_and_a_session(site, cli, alice, clock):
    anonymous = browser_from(site, "10.6.1.1")
    anonymous.get("/account")
    bounced = anonymous.post(
        "/account/email",
        data={"csrf_token": anonymous.cookies.get("as_csrf"), "email": "x@example.com"},
        follow_redirects=False,
    )
    assert bounced.status_code == 303 and bounced.headers["location"].startswith("/login")
    account_sign_in(site)
    assert site.post("/account/email", data={"email": "x@example.com"}, follow_redirects=False).status_code == 403
    csrf = account_csrf(site)
    clock.advance(301)
    stale = site.post("/account/email", data={"csrf_token": csrf, "email": "x@example.com"}, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/account/reauth")


def test_links_are_single_use_expire_and_are_superseded(site, cli, mailbox, alice, clock):
    account_sign_in(site)
    account_post(site, "/account/email", email="first@example.com")
    first, message = open_link(site, mailbox, "first@example.com", "/account/email/confirm")
    account_post(site, "/account/email", email="second@example.com")
    second, _ = open_link(site, mailbox, "second@example.com", "/account/email/confirm")
    stale = submit(site, first)
    assert stale.status_code == 400 and EXPIRED in alert(stale)
    url = path_of(link_to(message, "/account/email/confirm"))
    for bad in (
        url[:-1] + ("A" if not url.endswith("A") else "B"),
        "/account/email/confirm",
        "/account/email/confirm?token=" + "z" * 400,
    ):
        assert site.get(bad).status_code == 400, bad
    clock.advance(86400 + 60)
    expired = submit(site, second)
    assert expired.status_code == 400 and EXPIRED in alert(expired)
    assert email_of(cli, "alice")[0] == "alice@example.com"


def test_an_address_taken_meanwhile_is_not_moved(site, cli, mailbox, alice):
    account_sign_in(site)
    account_post(site, "/account/email", email="dave@example.com")
    page, _ = open_link(site, mailbox, "dave@example.com", "/account/email/confirm")
    create_user(cli, "dave")  # another account gets the address before the link is used
    refused = confirm(site, page)
    assert refused.status_code == 400 and "belongs to another account" in alert(refused)
    assert email_of(cli, "alice")[0] == "alice@example.com" and email_of(cli, "dave")[0] == "dave@example.com"


def test_change_requests_are_throttled_per_address(make_app, mailbox, alice):
    http = make_app(smtp_url=mailbox.url, rate_limit_mail_address="1/hour", **APP_MAIL)
    account_sign_in(http)
    assert account_post(http, "/account/email", email="new@example.com").status_code == 200
    limited = account_post(http, "/account/email", email="new@example.com")
    assert limited.status_code == 429
