"""WCAG 2.1 AA on every hosted page, in every state, checked by axe-core in real Chromium.

A person walks through the pages (sign-in with a wrong password then the right one, consent with the
client's logo and links, two-step set-up with a wrong code, the second factor, the account page, a
re-authentication error, sign-up with errors, the forgotten-password pages, the device pages, sign-out,
an error page, and a page in German; then, with a real SMTP server, the pages behind emailed links:
sign-up's check-your-email, address confirmation, password reset with a refused password, and account
deletion); on each page axe-core (the script the axe-playwright-python
wheel ships) must report no violation of the WCAG 2.0/2.1 A and AA rules, in the light and the dark
colour scheme. Each page must also fit 320 CSS px without scrolling sideways (as 200% zoom of a
640 px window does). Screenshots at desktop and phone width, light and dark, go to
artifacts/screenshots/. Sign-in and consent are also done with the keyboard alone, the focus always
visible.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

# AUTHSERVER_TEST_ACCESSIBILITY=0 skips this file: .ci/run's second backend, since what it checks (the
# pages' markup, colours and keyboard paths) does not depend on the storage backend.
if os.environ.get("AUTHSERVER_TEST_ACCESSIBILITY", "1") == "0":
    pytest.skip("AUTHSERVER_TEST_ACCESSIBILITY=0: checked on the first backend", allow_module_level=True)
if not os.access("/usr/bin/chromium", os.X_OK):
    pytest.skip(
        "needs the system Chromium at /usr/bin/chromium (tests/browser/ensure_chromium.sh)", allow_module_level=True
    )
pytest.importorskip("playwright.sync_api")
pytest.importorskip("axe_playwright_python")

import httpx
import pyotp
from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import REDIRECT_URI, Site, Tab
from tests.fake_idp import FakeIdP
from tests.helpers import PASSWORD, authorize_params, pkce_pair, query
from tests.mailbox import html_of, link_to
from tests.server import start, stop
from tests.upstreams import add_upstream

# One walk through every page (about 30 states, each checked twice and photographed four times) is long
# on a loaded machine: a generous bound, not a timing.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE = Axe()
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 640}

LOGO = "https://app.example/logo.svg"
LOGO_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" rx="10" fill="#0b6e4f"/></svg>'

TOO_WIDE = """() => Array.from(document.querySelectorAll('main *'))
  .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .filter(el => !el.closest('.table-scroll') || el.classList.contains('table-scroll'))
  .slice(0, 5).map(el => el.outerHTML.slice(0, 120))"""

FOCUS_VISIBLE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const cs = getComputedStyle(el);
  return {tag: el.tagName, text: (el.textContent || el.value || '').trim(), outline: cs.outlineStyle,
          width: parseFloat(cs.outlineWidth) || 0};
}"""


def axe_violations(tab: Tab) -> list[str]:
    results = AXE.run(tab.page, options={"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]})
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["html"][:160] for n in v["nodes"][:3])
        for v in results.response["violations"]
    ]


def audit(tab: Tab, name: str) -> None:
    """axe-core in light and dark, the 320 px check, screenshots at desktop and phone width."""
    page = tab.page
    page.wait_for_load_state("load")
    size = page.viewport_size
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
        page.set_viewport_size(DESKTOP)
        assert axe_violations(tab) == [], f"{name} ({scheme})"
        tab.shot(f"a11y_{name}_desktop_{scheme}.png")
        page.set_viewport_size(PHONE)
        tab.shot(f"a11y_{name}_phone_{scheme}.png")
    page.set_viewport_size(NARROW)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"{name}: {width}px wide at 320px: {page.evaluate(TOO_WIDE)}"
    page.emulate_media(color_scheme="light", reduced_motion="no-preference")
    page.set_viewport_size(size or DESKTOP)
    assert tab.errors == [], f"{name}: console errors"


@pytest.fixture
def open_site(env, cli, register, tmp_path) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """Like `site`, with sign-up open and a sign-in client that registered its logo and pages."""
    created = cli(
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--name",
        "Alice Example",
        "--email-verified",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.code == 0, created.err
    client = register(
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT_URI,
        "--logo-uri",
        LOGO,
        "--client-uri",
        "https://app.example/",
        "--policy-uri",
        "https://app.example/privacy",
        "--tos-uri",
        "https://app.example/terms",
        name="Example App",
    )
    proc, base = start(
        {**env, "AUTHSERVER_SIGNUP": "open", "AUTHSERVER_SUPPORT_URL": "https://help.example/"}, tmp_path
    )
    try:
        yield Site(base, client)
    finally:
        stop(proc)


def to_login(tab: Tab, site: Site, **extra: str) -> dict[str, str]:
    # The client's logo, served where its registration says (Playwright routes no request off this machine).
    tab.page.route(LOGO, lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=LOGO_SVG))
    _, challenge = pkce_pair()
    params = authorize_params(site.client, challenge, **extra)
    tab.page.goto("/authorize?" + urlencode(params))
    tab.page.wait_for_url("**/login?interaction=*")
    return params


def test_every_page_in_every_state_has_no_wcag_violations(open_site, tabs, register):
    site = open_site
    tab = tabs(site.base, viewport=DESKTOP)
    page = tab.page

    # Sign-in: empty, then with an error, then consent with the client's logo and links.
    to_login(tab, site)
    audit(tab, "login")
    page.fill("#username", site.username)
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("alert").first.wait_for()
    audit(tab, "login_error")
    page.fill("#password", site.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/consent?interaction=*")
    assert page.locator("img.client-logo").count() == 1
    audit(tab, "consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(REDIRECT_URI + "?*")

    # The account, two-step set-up (a wrong code first), backup codes, the account with it on.
    page.goto("/account")
    audit(tab, "account")
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.wait_for_url("**/account/mfa/totp")
    audit(tab, "totp_enrol")
    secret = page.inner_text("code.secret").replace(" ", "")
    page.fill("#code", "000000")
    page.get_by_role("button", name="Turn on two-step verification").click()
    page.get_by_role("alert").wait_for()
    audit(tab, "totp_enrol_error")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-step verification").click()
    page.wait_for_selector(".codes")
    audit(tab, "backup_codes")
    page.get_by_role("link", name="I have saved them").click()
    page.wait_for_url("**/account")
    audit(tab, "account_two_step")
    page.fill("#current_password", "wrong password")
    page.fill("#new_password", "a new and long passphrase")
    page.fill("#confirm_password", "a new and long passphrase")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_load_state("load")
    audit(tab, "account_or_reauth_after_password_change")

    # The second factor in a new browser: a wrong code, then the right one.
    other = tabs(site.base, viewport=DESKTOP)
    to_login(other, site)
    other.page.fill("#username", site.username)
    other.page.fill("#password", site.password)
    other.page.get_by_role("button", name="Sign in", exact=True).click()
    other.page.wait_for_url("**/mfa?interaction=*")
    audit(other, "mfa")
    other.page.fill("#code", "000000")
    other.page.get_by_role("button", name="Verify").click()
    other.page.get_by_role("alert").first.wait_for()
    audit(other, "mfa_error")
    other.page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    other.page.get_by_role("button", name="Verify").click()
    other.page.wait_for_url(REDIRECT_URI + "?*")

    # The device pages in the signed-in browser: a wrong code, the confirmation, the answer.
    tv = register("--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code", name="Living Room TV")
    grant = httpx.post(site.base + "/device_authorization", data={"client_id": tv["client_id"]}).json()
    other.page.goto("/device")
    audit(other, "device")
    other.page.fill("#user_code", "BCDF-GHJK")
    other.page.get_by_role("button", name="Continue").click()
    other.page.get_by_role("alert").wait_for()
    audit(other, "device_error")
    other.page.fill("#user_code", grant["user_code"])
    other.page.get_by_role("button", name="Continue").click()
    other.page.wait_for_url("**/device/confirm*")
    audit(other, "device_confirm")
    other.page.get_by_role("button", name="Deny").click()
    other.page.wait_for_selector("text=Request denied")
    audit(other, "device_denied")

    # Re-authentication with a wrong answer.
    other.page.goto("/account/reauth?next=/account")
    audit(other, "reauth")
    other.page.fill("#password", "wrong")
    other.page.get_by_role("button", name="Confirm", exact=True).click()
    other.page.get_by_role("alert").first.wait_for()
    audit(other, "reauth_error")

    # Sign-out: the question, then the answer.
    other.page.goto("/logout")
    audit(other, "logout")
    other.page.get_by_role("button", name="Sign out").click()
    other.page.wait_for_load_state("load")
    audit(other, "logged_out")

    # Sign-up with errors, and the forgotten-password pages (an error, then the answer).
    fresh = tabs(site.base, viewport=DESKTOP)
    fresh.page.goto("/signup")
    audit(fresh, "signup")
    fresh.page.fill("#username", "x")
    fresh.page.fill("#email", "not an address")
    fresh.page.fill("#password", "short")
    fresh.page.get_by_role("button", name="Create account").click()
    fresh.page.locator("#error-summary").wait_for()
    audit(fresh, "signup_errors")
    fresh.page.goto("/password/forgot")
    audit(fresh, "forgot")
    fresh.page.fill("#email", "nope")
    fresh.page.get_by_role("button", name="Send me a link").click()
    fresh.page.get_by_role("alert").wait_for()
    audit(fresh, "forgot_error")
    fresh.page.fill("#email", "alice@example.com")
    fresh.page.get_by_role("button", name="Send me a link").click()
    fresh.page.wait_for_selector("text=Check your email")
    audit(fresh, "reset_sent")

    # An error page (with the request id for support), and a page in German.
    fresh.page.goto("/consent?interaction=expired")
    audit(fresh, "error_page")
    german = tabs(site.base, viewport=DESKTOP, locale="de-DE")
    to_login(german, site)
    assert german.page.evaluate("document.documentElement.lang") == "de"
    audit(german, "login_de")


def test_the_checker_is_not_blind(site, tabs):
    """axe-core does report a violation when a page has one (an image without a text alternative)."""
    tab = tabs(site.base, viewport=DESKTOP)
    tab.page.goto("/device")
    tab.page.evaluate(
        "() => { const i = document.createElement('img'); i.src = '/static/nothing.png';"
        " document.querySelector('main').appendChild(i); }"
    )
    assert any(v.startswith("image-alt") for v in axe_violations(tab))


def press_tab_until(tab: Tab, text: str, limit: int = 20) -> dict:
    for _ in range(limit):
        tab.page.keyboard.press("Tab")
        focus = tab.page.evaluate(FOCUS_VISIBLE)
        if focus is not None:
            # Every stop of the keyboard shows where it is (WCAG 2.4.7).
            assert focus["outline"] != "none" and focus["width"] >= 2, focus
            if focus["text"] == text:
                return focus
    raise AssertionError(f"{text!r} not reached by Tab")


def test_sign_in_and_consent_by_keyboard_alone(open_site, tabs):
    site = open_site
    tab = tabs(site.base, viewport=DESKTOP)
    page = tab.page
    params = to_login(tab, site)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'username'")
    page.keyboard.type(site.username)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(site.password)
    press_tab_until(tab, "Sign in")
    page.keyboard.press("Enter")
    page.wait_for_url("**/consent?interaction=*")
    press_tab_until(tab, "Deny")
    press_tab_until(tab, "Allow")
    assert tab.errors == []
    # Enter on Allow: the browser goes back to the app with the code (the request is what matters here).
    with page.expect_request(lambda request: request.url.startswith(REDIRECT_URI + "?")) as sent:
        page.keyboard.press("Enter")
    callback = query(sent.value.url)
    assert callback["state"] == params["state"] and callback["code"] and "error" not in callback


@pytest.fixture
def mail_site(env, register, tmp_path, mailbox) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """A running server with sign-up open and a real SMTP server, for the pages behind emailed links."""
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, name="Example App")
    extra = {"AUTHSERVER_SIGNUP": "open", "AUTHSERVER_SMTP_URL": mailbox.url, "AUTHSERVER_MAIL_POLL_SECONDS": "0.2"}
    proc, base = start({**env, **extra}, tmp_path)
    try:
        yield Site(base, client, username="bob", password="purple monkey dishwasher")
    finally:
        stop(proc)


def test_the_pages_behind_emailed_links_have_no_wcag_violations(mail_site, tabs, mailbox):
    site = mail_site
    tab = tabs(site.base, viewport=DESKTOP)
    page = tab.page

    # Sign-up, then the confirmation link.
    page.goto("/signup")
    page.fill("#username", site.username)
    page.fill("#email", "bob@example.com")
    page.fill("#password", site.password)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("h1:text('Check your email')")
    audit(tab, "check_email")
    page.goto(link_to(mailbox.last("bob@example.com"), "/email/verify"))
    audit(tab, "verify_email")
    page.get_by_role("button", name="Yes, confirm my address").click()
    page.wait_for_selector("h1:text('Email address confirmed')")
    audit(tab, "email_verified")

    # A password reset: the page behind the link, a refused password, then done.
    reset = tabs(site.base, viewport=DESKTOP)
    reset.page.goto("/password/forgot")
    reset.page.fill("#email", "bob@example.com")
    reset.page.get_by_role("button", name="Send me a link").click()
    reset.page.wait_for_selector("h1:text('Check your email')")
    reset.page.goto(link_to(mailbox.last("bob@example.com", after=1), "/password/reset"))
    audit(reset, "reset")
    reset.page.fill("#password", "short")
    reset.page.get_by_role("button", name="Set new password").click()
    reset.page.get_by_role("alert").first.wait_for()
    audit(reset, "reset_error")
    reset.page.fill("#password", "a brand new passphrase")
    reset.page.get_by_role("button", name="Set new password").click()
    reset.page.wait_for_selector("h1:text('Password changed')")
    audit(reset, "reset_done")

    # Sign in on the account page, then delete the account.
    account = tabs(site.base, viewport=DESKTOP)
    account.page.goto("/account")
    account.page.wait_for_url("**/login?interaction=*")
    account.page.fill("#username", site.username)
    account.page.fill("#password", "a brand new passphrase")
    account.page.get_by_role("button", name="Sign in", exact=True).click()
    account.page.wait_for_url("**/account")
    account.page.get_by_text("Delete my account", exact=True).first.click()
    account.page.fill("#confirm", site.username)
    account.page.get_by_role("button", name="Delete my account").click()
    account.page.wait_for_selector("h1:text('Your account is deleted')")
    audit(account, "account_deleted")


@pytest.fixture
def strict_mail_site(env, cli, register, tmp_path, mailbox) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """Like `mail_site`, with sign-in refused until the address is confirmed, and alice (whose address a
    change of email will run into)."""
    created = cli(
        "user", "create", "--username", "alice", "--email", "alice@example.com", "--email-verified",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.code == 0, created.err
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, name="Example App")
    extra = {
        "AUTHSERVER_SIGNUP": "open",
        "AUTHSERVER_REQUIRE_VERIFIED_EMAIL": "true",
        "AUTHSERVER_SMTP_URL": mailbox.url,
        "AUTHSERVER_MAIL_POLL_SECONDS": "0.2",
    }
    proc, base = start({**env, **extra}, tmp_path)
    try:
        yield Site(base, client, username="bob", password="purple monkey dishwasher")
    finally:
        stop(proc)


def mail_about(mailbox, address: str, subject: str):  # type: ignore[no-untyped-def]
    """The newest message to `address` with `subject`, waiting for it (the delivery loop is asynchronous)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [m for m in mailbox.to(address) if str(m["Subject"]) == subject]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no message {subject!r} to {address}")


def sign_in_on_the_account_page(tab: Tab, site: Site) -> None:
    tab.page.goto("/account")
    tab.page.wait_for_url("**/login?interaction=*")
    tab.page.fill("#username", site.username)
    tab.page.fill("#password", site.password)
    tab.page.get_by_role("button", name="Sign in", exact=True).click()
    tab.page.wait_for_load_state("load")


def test_the_other_account_pages_and_every_email_have_no_wcag_violations(strict_mail_site, tabs, mailbox):
    """The pages the first walk does not reach (confirm your address first, the start of two-step set-up,
    the confirmation of a new address), then the HTML part of every email they sent, shown as a mail
    program would (no page around it, no CSP: their styles are inline)."""
    site = strict_mail_site
    tab = tabs(site.base, viewport=DESKTOP)
    page = tab.page

    # Sign-up, and the same address again (the owner is told by email), then sign-in before confirming.
    page.goto("/signup")
    page.fill("#username", site.username)
    page.fill("#email", "bob@example.com")
    page.fill("#password", site.password)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("h1:text('Check your email')")
    page.goto("/signup")
    page.fill("#username", "robert")
    page.fill("#email", "bob@example.com")
    page.fill("#password", site.password)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("h1:text('Check your email')")
    sign_in_on_the_account_page(tab, site)
    page.wait_for_selector("h1:text('Confirm your email address first')")
    audit(tab, "verify_required")

    # Confirmed: the account page, the start of two-step set-up.
    page.goto(link_to(mail_about(mailbox, "bob@example.com", "Confirm your email address"), "/email/verify"))
    page.get_by_role("button", name="Yes, confirm my address").click()
    page.wait_for_selector("h1:text('Email address confirmed')")
    sign_in_on_the_account_page(tab, site)
    page.wait_for_url("**/account")
    page.goto("/account/mfa/totp")
    page.wait_for_selector("h1:text('Set up an authenticator app')")
    audit(tab, "totp_start")

    # A new address: one another account has (its owner is told), then a free one and its confirmation.
    for address in ("alice@example.com", "bob.new@example.com"):
        page.goto("/account")
        page.get_by_text("Change email address", exact=True).click()
        page.fill("#new_email", address)
        page.get_by_role("button", name="Send the link").click()
        page.get_by_role("status").wait_for()
    confirming = mail_about(mailbox, "bob.new@example.com", "Confirm your new email address")
    page.goto(link_to(confirming, "/account/email/confirm"))
    page.wait_for_selector("h1:text('Confirm your new email address')")
    audit(tab, "email_change")
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, use this address").click()
    audit(tab, "email_changed")

    # A password reset (its email, and the one saying the password changed), then the account deleted.
    reset = tabs(site.base, viewport=DESKTOP)
    reset.page.goto("/password/forgot")
    reset.page.fill("#email", "bob.new@example.com")
    reset.page.get_by_role("button", name="Send me a link").click()
    reset.page.wait_for_selector("h1:text('Check your email')")
    reset.page.goto(link_to(mail_about(mailbox, "bob.new@example.com", "Reset your password"), "/password/reset"))
    reset.page.fill("#password", "a brand new passphrase")
    reset.page.get_by_role("button", name="Set new password").click()
    reset.page.wait_for_selector("h1:text('Password changed')")
    site.password = "a brand new passphrase"
    deleting = tabs(site.base, viewport=DESKTOP)
    sign_in_on_the_account_page(deleting, site)
    deleting.page.wait_for_url("**/account")
    deleting.page.get_by_text("Delete my account", exact=True).first.click()
    deleting.page.fill("#confirm", site.username)
    deleting.page.get_by_role("button", name="Delete my account").click()
    deleting.page.wait_for_selector("h1:text('Your account is deleted')")

    # Every kind of email sent above, each shown as a mail program shows it.
    subjects = {
        "Confirm your email address",
        "You already have an account",
        "Someone tried to use your email address",
        "Confirm your new email address",
        "Your email address was changed",
        "Reset your password",
        "Your password was changed",
        "Your account was deleted",
    }
    deadline = time.monotonic() + 30  # the delivery loop sends them in its own time
    while {str(m["Subject"]) for m in list(mailbox.messages)} != subjects and time.monotonic() < deadline:
        time.sleep(0.2)
    reader = tabs(site.base, viewport=DESKTOP)
    seen = set()
    for message in list(mailbox.messages):
        subject = str(message["Subject"])
        if subject in seen:
            continue
        seen.add(subject)
        reader.page.goto("about:blank")
        reader.page.set_content(html_of(message))
        audit(reader, "email_" + "_".join(subject.lower().split())[:40].strip("_"))
    assert seen == subjects


@pytest.fixture
def federated_site(env, cli, register, tmp_path) -> Iterator[tuple[Site, FakeIdP]]:  # type: ignore[no-untyped-def]
    """A running server with alice, a first-party sign-in client and Corp, a scriptable upstream."""
    created = cli(
        "user", "create", "--username", "alice", "--email", "alice@example.com", "--email-verified",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.code == 0, created.err
    client = register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, "--first-party", name="Example App"
    )  # fmt: skip
    idp = FakeIdP().start()
    add_upstream(cli, idp)
    proc, base = start(env, tmp_path)
    try:
        yield Site(base, client), idp
    finally:
        stop(proc)
        idp.stop()


def test_the_upstream_and_form_post_pages_have_no_wcag_violations(federated_site, tabs):
    """Sign-in through an upstream: the choice on the login page, a cancelled sign-in and a failed one
    (the login page with the message), an expired answer (an error page), and the page that continues to
    the application; then the form_post response page."""
    site, idp = federated_site
    tab = tabs(site.base, viewport=DESKTOP)
    page = tab.page
    answers: list[dict[str, str]] = []  # what the upstream's login page "answers", one per visit

    def upstream_login(sent: dict[str, str]) -> str:
        back = {"state": sent["state"], **answers.pop(0)}
        if "code" in back:
            idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True, name="Carol")
        return f"{sent['redirect_uri']}?{urlencode(back)}"

    idp.login = upstream_login
    _, challenge = pkce_pair()
    page.goto("/authorize?" + urlencode(authorize_params(site.client, challenge)))
    page.wait_for_url("**/login?interaction=*")
    assert page.get_by_role("button", name="Continue with Corp").count() == 1
    audit(tab, "upstream_choice")
    for answer, name in (
        ({"error": "access_denied"}, "upstream_cancelled"),
        ({"error": "server_error"}, "upstream_failed"),
    ):
        answers.append(answer)
        page.get_by_role("button", name="Continue with Corp").click()
        page.click("#back")  # at the upstream
        page.get_by_role("alert").first.wait_for()
        audit(tab, name)

    # The page that goes on to the application by itself (a Refresh header): shown without the header.
    def without_refresh(route) -> None:  # type: ignore[no-untyped-def]
        response = route.fetch(max_redirects=0)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "refresh"}
        route.fulfill(response=response, headers=headers)

    page.route(re.compile(re.escape(site.base) + r"/login/upstream/corp/callback\?.*"), without_refresh)
    answers.append({"code": "the-code"})
    page.get_by_role("button", name="Continue with Corp").click()
    page.click("#back")
    page.wait_for_selector("h1:text('Returning to the application…')")
    assert page.get_by_role("link", name="Continue").get_attribute("href").startswith(REDIRECT_URI + "?")
    audit(tab, "upstream_continue")
    page.unroute(re.compile(re.escape(site.base) + r"/login/upstream/corp/callback\?.*"))

    # An answer from the upstream that fits no sign-in of this browser: an error page.
    page.goto("/login/upstream/corp/callback?state=not-ours&code=x")
    page.wait_for_selector("h1:text('Sign-in expired')")
    audit(tab, "upstream_expired")

    # The form_post response mode: the page that posts the answer to the application (its script, which
    # submits the form at once, is left out so the page stays to be checked).
    post = tabs(site.base, viewport=DESKTOP)
    post.page.route("**/static/form_post.js", lambda route: route.fulfill(content_type="text/javascript", body=""))
    params = authorize_params(site.client, challenge, response_mode="form_post", prompt="none")
    post.page.goto("/authorize?" + urlencode(params))
    post.page.wait_for_selector("form#form-post")
    audit(post, "form_post")
