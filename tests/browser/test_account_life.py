"""The account's life in a real browser (system Chromium via Playwright) against a real `authserver
serve` with sign-up open and a real SMTP server: sign up from an app's login page, open the link from the
received email, confirm, then sign in to the app. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

if not os.access("/usr/bin/chromium", os.X_OK):
    pytest.skip(
        "needs the system Chromium at /usr/bin/chromium (tests/browser/ensure_chromium.sh)", allow_module_level=True
    )
pytest.importorskip("playwright.sync_api")

from tests.browser.checks import check
from tests.browser.conftest import PHONE, REDIRECT_URI, Site
from tests.helpers import authorize_params, pkce_pair, query
from tests.mailbox import Mailbox, link_to
from tests.server import start, stop

pytestmark = pytest.mark.slow
PASSWORD = "purple monkey dishwasher"


@pytest.fixture
def mailbox_site(env, register, tmp_path, mailbox: Mailbox) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, name="Example App")
    extra = {
        "AUTHSERVER_SIGNUP": "open",
        "AUTHSERVER_SMTP_URL": mailbox.url,
        "AUTHSERVER_MAIL_POLL_SECONDS": "0.2",
    }
    proc, base = start({**env, **extra}, tmp_path)
    try:
        yield Site(base, client, username="bob", password=PASSWORD)
    finally:
        stop(proc)


def to_app(tab, site: Site) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An app sends the person to /authorize; returns the authorization request's parameters."""
    _, challenge = pkce_pair()
    params = authorize_params(site.client, challenge)
    tab.page.goto("/authorize?" + urlencode(params))
    tab.page.wait_for_url("**/login?interaction=*")
    return params


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_sign_up_verify_then_sign_in(mailbox_site, tabs, mailbox, device):
    site = mailbox_site
    options = PHONE if device == "phone" else {"viewport": {"width": 1280, "height": 800}}
    width = 390 if device == "phone" else None
    suffix = "" if device == "desktop" else "_phone"
    tab = tabs(site.base, **options)
    page = tab.page

    to_app(tab, site)
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url("**/signup?interaction=*")
    check(tab, "signup" + suffix, max_width=width)
    # A weak password is refused at its field; what was typed (but the password) stays.
    page.fill("#username", "bob")
    page.fill("#email", "bob@example.com")
    page.fill("#name", "Bob Example")
    page.fill("#password", "password1234")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("#password-error")
    assert page.input_value("#email") == "bob@example.com" and page.input_value("#password") == ""
    check(tab, "signup_error" + suffix, max_width=width)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("h1:text('Check your email')")
    check(tab, "signup_check_email" + suffix, max_width=width)

    link = link_to(mailbox.last("bob@example.com"), "/email/verify")
    assert link.startswith(site.base + "/email/verify?token=")
    page.goto(link)
    check(tab, "verify_email" + suffix, max_width=width)
    page.get_by_role("button", name="Yes, confirm my address").click()
    page.wait_for_selector("h1:text('Email address confirmed')")
    check(tab, "email_verified" + suffix, max_width=width)

    params = to_app(tab, site)
    page.fill("#username", "bob")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/consent?interaction=*")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(REDIRECT_URI + "?*")
    callback = query(page.url)
    assert callback["code"] and callback["state"] == params["state"]
    assert tab.errors == []


def test_forgot_password_then_reset_and_sign_in(mailbox_site, tabs, mailbox, cli):
    site = mailbox_site
    created = cli(
        "user",
        "create",
        "--username",
        "carol",
        "--email",
        "carol@example.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.code == 0, created.err
    tab = tabs(site.base, viewport={"width": 1280, "height": 800})
    page = tab.page
    to_app(tab, site)
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url("**/password/forgot")
    check(tab, "forgot_password")
    page.fill("#email", "carol@example.com")
    page.get_by_role("button", name="Send me a link").click()
    page.wait_for_selector("h1:text('Check your email')")
    check(tab, "reset_sent")

    link = link_to(mailbox.last("carol@example.com"), "/password/reset")
    page.goto(link)
    check(tab, "reset_password")
    new = "a brand new passphrase"
    page.fill("#password", "short")
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_selector("#reset-error")
    check(tab, "reset_password_error")
    page.fill("#password", new)
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_selector("h1:text('Password changed')")
    check(tab, "reset_done")

    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url("**/login?interaction=*")
    page.fill("#username", "carol")
    page.fill("#password", new)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/account")
    assert page.get_by_role("heading", level=1).inner_text() == "Your account"
    assert tab.errors == []
