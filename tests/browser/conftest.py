"""Fixtures for the browser tests: the system Chromium (never a downloaded one), a real server
process with a user and a sign-in client, and a `Tab` helper that watches a page for console
errors and saves screenshots to artifacts/screenshots/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import PASSWORD
from tests.server import start, stop

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# AUTHSERVER_TEST_SCREENSHOTS=0: none taken (.ci/run's second backend: the pages look the same on both,
# and ~250 full-page captures in software rendering cost minutes of CPU). Read at import, as the
# backend variables are: the `env` fixture clears AUTHSERVER_* for each test.
TAKE_SCREENSHOTS = os.environ.get("AUTHSERVER_TEST_SCREENSHOTS", "1") != "0"
REDIRECT_URI = "https://app.example/cb"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Module scope: Playwright's sync API owns an event loop while it runs; end it with this module
    # so later tests that use asyncio.run() never meet it.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Site:
    base: str
    client: dict
    username: str = "alice"
    password: str = PASSWORD
    extra: dict = field(default_factory=dict)


@pytest.fixture
def site(env, cli, register, tmp_path) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """A running `authserver serve` with user alice and a confidential sign-in client."""
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
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, name="Example App")
    proc, base = start(env, tmp_path)
    try:
        yield Site(base, client)
    finally:
        stop(proc)


class Tab:
    """A page in its own browser context that records console errors and takes screenshots."""

    def __init__(self, browser, base: str, **context_options: object) -> None:  # type: ignore[no-untyped-def]
        self.base = base
        self.context = browser.new_context(base_url=base, **context_options)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.documents: set[str] = set()
        self.page.on("request", self._request)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"{self.page.url}: uncaught {exc}"))
        # The relying party's callback: answer it here so Chromium never goes to the network.
        self.page.route(
            "https://app.example/**",
            lambda route: route.fulfill(
                status=200, content_type="text/html", body="<!doctype html><title>Example App</title><p>ok</p>"
            ),
        )

    def _request(self, request) -> None:  # type: ignore[no-untyped-def]
        if request.is_navigation_request():
            self.documents.add(request.url)

    def _console(self, message) -> None:  # type: ignore[no-untyped-def]
        if message.type != "error":  # CSP violations and failed loads are reported as errors
            return
        where = message.location.get("url") or self.page.url
        if message.text.startswith("Failed to load resource") and where in self.documents:
            return  # a page shown with a 4xx status on purpose (wrong password, wrong code)
        self.errors.append(f"{where}: {message.text}")

    def shot(self, name: str) -> Path:
        path = SCREENSHOTS / name
        if not TAKE_SCREENSHOTS:
            return path
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser) -> Iterator:  # type: ignore[no-untyped-def]
    """Open Tabs (each its own browser context: own cookies); closed after the test."""
    opened: list[Tab] = []

    def open_tab(base: str, **options: object) -> Tab:
        tab = Tab(browser, base, **options)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()
