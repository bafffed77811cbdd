"""Passkeys in a real browser: headless Chromium with its virtual authenticator (Chrome DevTools Protocol
`WebAuthn.enable` + `WebAuthn.addVirtualAuthenticator`: CTAP2, internal transport, resident keys and user
verification), driven by Playwright against a real `authserver serve` whose issuer is
http://localhost:PORT (browsers refuse WebAuthn on an IP address).

A person adds a passkey on /account, signs out, signs in to a relying party with the "Sign in with a
passkey" button and through autofill (conditional mediation), uses the passkey as the second factor
after the password, and removes it. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlencode

import pytest

if not os.access("/usr/bin/chromium", os.X_OK):
    pytest.skip(
        "needs the system Chromium at /usr/bin/chromium (tests/browser/ensure_chromium.sh)", allow_module_level=True
    )
pytest.importorskip("playwright.sync_api")

from tests.browser.conftest import REDIRECT_URI, Site, Tab
from tests.helpers import PASSWORD, authorize_params, pkce_pair, query
from tests.server import start, stop
from tests.softauthn import unb64url

pytestmark = pytest.mark.slow


@pytest.fixture
def site(env, cli, register, tmp_path) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """`authserver serve` known as http://localhost:PORT, with user alice and a sign-in client."""
    created = cli(
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--name",
        "Alice Example",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.code == 0, created.err
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, name="Example App")
    proc, base = start(env, tmp_path, host="localhost")
    try:
        yield Site(base, client)
    finally:
        stop(proc)


class Authenticator:
    """Chromium's virtual authenticator on one tab (a platform authenticator with a PIN or biometric)."""

    def __init__(self, tab: Tab, *, presence: bool = True) -> None:
        self.cdp = tab.context.new_cdp_session(tab.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        options = {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": presence,
        }
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def presence(self, on: bool) -> None:
        self.cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": self.id, "enabled": on})


def sign_in_with_password(tab: Tab, site: Site) -> None:
    page = tab.page
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def add_passkey(tab: Tab, site: Site, name: str) -> None:
    page = tab.page
    page.goto("/account")
    page.wait_for_url("**/login?interaction=*")
    sign_in_with_password(tab, site)
    page.wait_for_url("**/account")
    page.fill("#passkey-name", name)
    page.click("#passkey-add")
    page.wait_for_url("**/account?done=passkey")
    assert page.locator(".passkey-name").all_inner_texts() == [name]


def sign_out(tab: Tab) -> None:
    page = tab.page
    page.goto("/logout")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=You are signed out")


def authorize_url(site: Site, **extra: str) -> tuple[str, dict]:
    _, challenge = pkce_pair()
    params = authorize_params(site.client, challenge, **extra)
    return "/authorize?" + urlencode(params), params


def at_client(tab: Tab, params: dict) -> dict:
    tab.page.wait_for_url(REDIRECT_URI + "?*")
    callback = query(tab.page.url)
    assert callback["state"] == params["state"] and "code" in callback, callback
    return callback


def watch_ceremonies(tab: Tab, on_options: Callable[[int], object] | None = None) -> tuple[list[str], list[str]]:
    """The challenges the server handed out for sign-in, and those the posted passkey responses answered.
    `on_options(n)` runs as the n-th options reach the page (before its script can use them)."""
    challenges: list[str] = []
    answered: list[str] = []

    def options(route) -> None:  # type: ignore[no-untyped-def]
        response = route.fetch()
        if response.ok:
            challenges.append(response.json()["challenge"])
            if on_options is not None:
                on_options(len(challenges))
        route.fulfill(response=response)

    def on_request(request) -> None:  # type: ignore[no-untyped-def]
        if request.url.endswith("/login/passkey") and request.method == "POST":
            credential = parse_qs(request.post_data or "")["credential"][0]
            client_data = json.loads(unb64url(json.loads(credential)["response"]["clientDataJSON"]))
            answered.append(client_data["challenge"])

    tab.page.route("**/passkeys/options", options)
    tab.page.on("request", on_request)
    return challenges, answered


def wait_until(tab: Tab, condition: Callable[[], bool], seconds: float = 30) -> None:
    """Let the page's events (routed requests) run until `condition` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the page never got there"
        tab.page.wait_for_timeout(50)


def consent_if_asked(tab: Tab) -> None:
    page = tab.page
    page.wait_for_url(lambda url: "/consent?" in url or url.startswith(REDIRECT_URI))
    if "/consent?" in page.url:
        page.get_by_role("button", name="Allow").click()


def test_add_a_passkey_sign_out_and_sign_in_with_the_button(tabs, site):
    tab = tabs(site.base)
    authenticator = Authenticator(tab)
    add_passkey(tab, site, "This laptop")
    [credential] = authenticator.credentials()
    assert credential["isResidentCredential"] and credential["rpId"] == "localhost"
    tab.shot("passkey-account.png")
    sign_out(tab)

    # Autofill would answer at once in this test browser: hold the authenticator until the button is used,
    # so the sign-in below goes through the button (which must first abort the pending autofill request).
    authenticator.presence(False)
    # Presence comes back as the button's own options arrive: the button has aborted the autofill request
    # by then (passkeys.js waits for it to settle). Turned on before the click, it let the waiting autofill
    # request answer first on a slow machine.
    challenges, answered = watch_ceremonies(tab, on_options=lambda n: n == 2 and authenticator.presence(True))
    url, params = authorize_url(site)
    tab.page.goto(url)
    tab.page.wait_for_url("**/login?interaction=*")
    button = tab.page.locator("#passkey-signin")
    button.wait_for(state="visible")
    tab.shot("passkey-login.png")
    wait_until(tab, lambda: len(challenges) == 1)  # the autofill request is waiting for the authenticator
    button.click()
    consent_if_asked(tab)
    callback = at_client(tab, params)
    assert callback["iss"] == site.base
    # The autofill request asked for options first; the button aborted it and asked again: the answer
    # that signed in is the button's (the second challenge), never "a request is already pending".
    assert len(challenges) == 2 and answered == [challenges[1]], (challenges, answered)
    assert tab.errors == [], tab.errors


def test_sign_in_through_autofill(tabs, site):
    tab = tabs(site.base)
    authenticator = Authenticator(tab)
    add_passkey(tab, site, "Phone")
    sign_out(tab)
    url, params = authorize_url(site)
    tab.page.goto(url)  # nothing clicked: the conditional request offers the passkey and is answered
    consent_if_asked(tab)
    at_client(tab, params)
    assert authenticator.credentials()[0]["signCount"] >= 1
    assert tab.errors == [], tab.errors


def test_a_passkey_as_the_second_factor_then_removed(tabs, site):
    tab = tabs(site.base)
    authenticator = Authenticator(tab)
    add_passkey(tab, site, "Security key")
    sign_out(tab)
    authenticator.presence(False)  # no autofill: this time the user types the password
    url, params = authorize_url(site)
    page = tab.page
    page.goto(url)
    page.wait_for_url("**/login?interaction=*")
    sign_in_with_password(tab, site)
    page.wait_for_url("**/mfa?interaction=*")
    verify = page.locator("#passkey-verify")
    verify.wait_for(state="visible")
    tab.shot("passkey-mfa.png")
    authenticator.presence(True)
    verify.click()
    consent_if_asked(tab)
    at_client(tab, params)

    # Remove it again on the account page (the sign-in just now was two factors: recent enough).
    page.goto("/account")
    page.get_by_role("button", name="Remove Security key").click()
    page.wait_for_url("**/account?done=passkey-removed")
    assert page.locator(".passkey-name").count() == 0
    tab.shot("passkey-removed.png")
    assert tab.errors == [], tab.errors


def test_a_cancelled_prompt_leaves_the_password_path_open(tabs, site):
    tab = tabs(site.base)
    Authenticator(tab)  # no passkey registered for this site on this device
    url, params = authorize_url(site)
    page = tab.page
    page.goto(url)
    page.wait_for_url("**/login?interaction=*")
    page.click("#passkey-signin")
    status = page.locator("#passkey-status")
    status.wait_for(state="visible", timeout=30_000)
    assert "No passkey was used" in status.inner_text()
    tab.shot("passkey-none.png")
    sign_in_with_password(tab, site)
    consent_if_asked(tab)
    at_client(tab, params)
