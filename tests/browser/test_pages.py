"""The hosted pages in a real browser: headless system Chromium (/usr/bin/chromium) driven by
Playwright against a real `authserver serve` process.

A person enrols an authenticator app on /account and then signs in to an app with it (login, MFA,
consent, redirect with code, state and iss); the login form works by keyboard; the device pages
work; and on every page: each input has a label, the console stays free of errors (CSP violations
would show there), and at phone width (390 px) nothing scrolls sideways. Full-page screenshots go
to artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import os
import time
from urllib.parse import urlencode

import pytest

from tests.browser.checks import check

if not os.access("/usr/bin/chromium", os.X_OK):
    pytest.skip(
        "needs the system Chromium at /usr/bin/chromium (tests/browser/ensure_chromium.sh)", allow_module_level=True
    )
pytest.importorskip("playwright.sync_api")

import httpx
import pyotp

from tests.browser.conftest import PHONE, REDIRECT_URI, Site, Tab
from tests.helpers import authorize_params, pkce_pair, query

pytestmark = pytest.mark.slow


def enrol_totp(tab: Tab, site: Site, suffix: str = "", max_width: int | None = None) -> str:
    """Sign in on /account, set up an authenticator app; return its secret."""
    page = tab.page
    page.goto("/account")
    page.wait_for_url("**/login?interaction=*")
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/account")
    assert page.get_by_role("heading", level=1).inner_text() == "Your account"
    page.get_by_role("button", name="Set up an authenticator app").click()  # a POST: a GET changes nothing
    page.wait_for_url("**/account/mfa/totp")
    qr = page.locator(".qr svg").bounding_box()
    assert qr and qr["width"] >= 150, qr
    check(tab, "totp_enrol" + suffix, max_width=max_width)

    secret = page.inner_text("code.secret").replace(" ", "")
    assert len(secret) == 32
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-step verification").click()
    page.wait_for_selector("text=Two-step verification is on")
    codes = page.locator(".codes code").all_inner_texts()
    assert len(codes) >= 8 and len(set(codes)) == len(codes), codes
    check(tab, "backup_codes" + suffix, max_width=max_width)

    page.get_by_role("link", name="I have saved them").click()
    page.wait_for_url("**/account")
    assert page.locator(".badge.ok", has_text="On").count() == 1
    check(tab, "account" + suffix, max_width=max_width)
    return secret


def sign_in_with_totp(
    tab: Tab, site: Site, secret: str, suffix: str = "", max_width: int | None = None
) -> dict[str, str]:
    """An app sends the person to /authorize: password, TOTP code, consent; return the callback query."""
    page = tab.page
    _, challenge = pkce_pair()
    params = authorize_params(site.client, challenge)
    page.goto("/authorize?" + urlencode(params))
    page.wait_for_url("**/login?interaction=*")
    assert "Example App" in page.inner_text(".lead")
    check(tab, "login" + suffix, max_width=max_width)
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.get_by_role("button", name="Sign in", exact=True).click()

    page.wait_for_url("**/mfa?interaction=*")
    check(tab, "mfa" + suffix, max_width=max_width)
    # The server accepts one step either side but never a step it has already seen: the enrolment
    # used the current one, so answer with the next.
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()

    page.wait_for_url("**/consent?interaction=*")
    assert "Example App" in page.get_by_role("heading", level=1).inner_text()
    check(tab, "consent" + suffix, max_width=max_width)
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(REDIRECT_URI + "?*")
    callback = query(page.url)
    assert page.url.startswith(REDIRECT_URI + "?")
    assert callback["code"] and callback["state"] == params["state"] and callback["iss"] == site.base
    assert "error" not in callback
    return callback


def test_enrol_totp_then_sign_in_to_an_app_with_it(site, tabs):
    tab = tabs(site.base, viewport={"width": 1280, "height": 800})
    secret = enrol_totp(tab, site)

    other = tabs(site.base, viewport={"width": 1280, "height": 800})  # a new browser: no session
    sign_in_with_totp(other, site, secret)

    # Signing out (RP-less): confirm, then the signed-out page.
    other.page.goto("/logout")
    check(other, "logout")
    other.page.get_by_role("button", name="Sign out").click()
    other.page.wait_for_selector("text=You are signed out")
    check(other, "logged_out")


def test_turning_two_step_off_asks_to_confirm_it_is_you(site, tabs):
    tab = tabs(site.base, viewport={"width": 1280, "height": 800})
    secret = enrol_totp(tab, site, "_sudo")  # signed in with the password only, before TOTP was on
    page = tab.page
    page.get_by_text("Turn off", exact=True).click()  # opens the <details>
    page.get_by_role("button", name="Turn off two-step verification").click()
    page.wait_for_url("**/account/reauth?next=*")
    assert page.get_by_role("heading", level=1).inner_text() == "Confirm it's you"
    check(tab, "reauth")
    page.fill("#password", site.password)
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))  # the enrolment used the current step
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/account?done=confirmed")
    page.get_by_text("Turn off", exact=True).click()
    page.get_by_role("button", name="Turn off two-step verification").click()
    page.wait_for_selector("text=Two-step verification is off.")
    assert page.locator(".badge.ok", has_text="On").count() == 0
    check(tab, "account_totp_off")


def focused(page, element_id: str) -> None:
    """Waits until the element with this id has the focus; fails after 5 s."""
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id", arg=element_id, timeout=5000
    )


def test_login_by_keyboard_with_error_then_success(site, tabs):
    tab = tabs(site.base, viewport={"width": 1280, "height": 800})
    page = tab.page
    page.goto("/account")
    page.wait_for_url("**/login?interaction=*")

    def active() -> str:
        return page.evaluate("document.activeElement && (document.activeElement.id || document.activeElement.tagName)")

    # Autofocus runs at the browser's next rendering step, after the load event: wait for it.
    focused(page, "username")
    page.focus("#username")
    page.keyboard.type(site.username)
    page.keyboard.press("Tab")
    assert active() == "password"
    page.keyboard.type("not the password at all")
    page.keyboard.press("Enter")

    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text().strip()
    assert page.input_value("#username") == site.username  # kept, so only the password is retyped
    focused(page, "password")
    assert page.get_attribute("#username", "aria-describedby") == "login-error"
    check(tab, "login_error")
    page.emulate_media(color_scheme="dark")
    tab.shot("login_error_dark.png")
    page.emulate_media(color_scheme="light")

    page.keyboard.type(site.password)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Sign in"
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")
    assert page.get_by_role("heading", level=1).inner_text() == "Your account"
    page.emulate_media(color_scheme="dark")
    tab.shot("account_dark.png")
    assert tab.errors == []

    # The console watcher is not blind: an inline style the CSP refuses shows up as an error.
    page.evaluate("document.head.appendChild(document.createElement('style')).textContent = 'h1{color:red}'")
    page.wait_for_timeout(100)
    assert any("Content Security Policy" in e for e in tab.errors), tab.errors


def test_pages_fit_a_phone(site, tabs):
    width = PHONE["viewport"]["width"]
    tab = tabs(site.base, **PHONE)
    secret = enrol_totp(tab, site, "_phone", max_width=width)
    sign_in_with_totp(tabs(site.base, **PHONE), site, secret, "_phone", max_width=width)

    device = tabs(site.base, **PHONE)
    device.page.goto("/device")
    check(device, "device_phone", max_width=width)


QR_GEOMETRY = """() => {
  const svg = document.querySelector('.qr svg');
  const box = svg.getBoundingClientRect(), cs = getComputedStyle(svg), px = v => parseFloat(v) || 0;
  const shown = {left: box.left + px(cs.paddingLeft) + px(cs.borderLeftWidth),
                 top: box.top + px(cs.paddingTop) + px(cs.borderTopWidth),
                 right: box.right - px(cs.paddingRight) - px(cs.borderRightWidth),
                 bottom: box.bottom - px(cs.paddingBottom) - px(cs.borderBottomWidth)};
  const d = svg.querySelector('path').getBoundingClientRect();
  return {shown, drawn: {left: d.left, top: d.top, right: d.right, bottom: d.bottom},
          viewBox: svg.getAttribute('viewBox'), width: svg.getAttribute('width')};
}"""


def test_enrolment_qr_code_is_shown_whole(site, tabs):
    for name, options in (("desktop", {"viewport": {"width": 1280, "height": 800}}), ("phone", PHONE)):
        tab = tabs(site.base, **options)
        tab.page.goto("/account")
        tab.page.wait_for_url("**/login?interaction=*")
        tab.page.fill("#username", site.username)
        tab.page.fill("#password", site.password)
        tab.page.get_by_role("button", name="Sign in", exact=True).click()
        tab.page.wait_for_url("**/account")
        tab.page.get_by_role("button", name="Set up an authenticator app").click()
        tab.page.wait_for_url("**/account/mfa/totp")
        geometry = tab.page.evaluate(QR_GEOMETRY)
        shown, drawn = geometry["shown"], geometry["drawn"]
        assert (
            drawn["left"] >= shown["left"] - 1
            and drawn["top"] >= shown["top"] - 1
            and drawn["right"] <= shown["right"] + 1
            and drawn["bottom"] <= shown["bottom"] + 1
        ), (name, geometry)


def test_device_pages(site, tabs, register):
    tv = register("--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code", name="Living Room TV")
    started = httpx.post(
        site.base + "/device_authorization", data={"client_id": tv["client_id"], "scope": "openid profile"}
    )
    assert started.status_code == 200, started.text
    grant = started.json()

    tab = tabs(site.base, viewport={"width": 1280, "height": 800})
    page = tab.page
    page.goto("/device")
    check(tab, "device")

    page.fill("#user_code", "BCDF-GHJK")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("alert").wait_for()
    assert page.get_attribute("#user_code", "aria-describedby") == "code-error"
    check(tab, "device_error")

    page.fill("#user_code", grant["user_code"].lower())  # typed as people do
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/login?interaction=*")
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.get_by_role("button", name="Sign in", exact=True).click()

    page.wait_for_url("**/device/confirm*")
    assert "Living Room TV" in page.get_by_role("heading", level=1).inner_text()
    assert grant["user_code"] in page.inner_text(".code-display")
    check(tab, "device_confirm")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_selector("text=Device connected")
    check(tab, "device_done")

    token = httpx.post(
        site.base + "/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": grant["device_code"],
            "client_id": tv["client_id"],
        },
    )
    assert token.status_code == 200, token.text
    assert token.json()["access_token"]
