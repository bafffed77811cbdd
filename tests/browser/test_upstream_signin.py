""" "Continue with Corp" in Chromium: a real authserver (issuer http://localhost:PORT) whose upstream is a
second real authserver (http://127.0.0.1:PORT2), so their cookies never meet. The chain app -> us ->
upstream login page -> us -> app, then the connected provider on the account page. Screenshots go to
artifacts/screenshots/."""

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
from tests.browser.conftest import REDIRECT_URI
from tests.helpers import PASSWORD, authorize_params, pkce_pair, query
from tests.server import start, stop
from tests.upstreams import Upstream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def chain(env, cli, register, tmp_path) -> Iterator[tuple[str, dict, Upstream]]:  # type: ignore[no-untyped-def]
    """(our base URL, the app registered with us, the upstream) with Corp configured as our upstream."""
    import json

    client = register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, "--first-party", name="Example App"
    )  # fmt: skip
    proc, base = start(env, tmp_path, host="localhost")
    upstream_dir = tmp_path / "upstream"
    upstream_dir.mkdir()
    upstream = Upstream(upstream_dir).start()
    try:
        upstream.cli(
            "user", "create", "--username", "bob", "--email", "bob@corp.example", "--name", "Bob",
            "--email-verified", "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        upstream.client = json.loads(
            upstream.cli(
                "client",
                "create",
                "--name",
                "Example Corp sign-in",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                f"{base}/login/upstream/corp/callback",
                "--first-party",
                "--json",
            )
        )
        added = cli(
            "upstream", "add", "--name", "corp", "--display-name", "Corp", "--issuer", upstream.base,
            "--client-id", upstream.client["client_id"], "--client-secret-stdin",
            stdin=upstream.client["client_secret"] + "\n",
        )  # fmt: skip
        assert added.code == 0, added.err
        yield base, client, upstream
    finally:
        upstream.stop()
        stop(proc)


def test_continue_with_an_upstream_in_chromium(chain, tabs):
    base, client, upstream = chain
    tab = tabs(base, viewport={"width": 1280, "height": 800})
    page = tab.page
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge)
    page.goto("/authorize?" + urlencode(params))
    page.wait_for_url("**/login?interaction=*")
    button = page.locator('[data-upstream="corp"]')
    assert button.inner_text() == "Continue with Corp"
    check(tab, "upstream_login_page")

    button.click()
    page.wait_for_url(upstream.base + "/login?interaction=*")
    tab.shot("upstream_provider_login.png")
    page.fill("#username", "bob")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    # A first-party app: no consent page; the answer ends the upstream's redirect chain with a page that
    # goes on to the app by itself (the upstream's form-action would block a redirect to the app).
    page.wait_for_url(REDIRECT_URI + "?*")
    back = query(page.url)
    assert back["state"] == params["state"] and back["code"]
    assert back["iss"] == base
    assert tab.errors == [], tab.errors
    tab.shot("upstream_back_at_app.png")

    page.goto("/account")
    page.wait_for_url("**/account")
    assert "Connected as bob@corp.example" in page.locator("#upstream-list").inner_text()
    check(tab, "upstream_account_connected")
