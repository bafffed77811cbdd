"""Per-client presentation (OIDC Dynamic Client Registration §2 metadata): the consent and device pages
show the client's logo at a fixed size and link its home page, privacy policy and terms; logos come only
from https or our own static files, and each page's CSP allows exactly the logo it shows."""

from __future__ import annotations

import pytest

from tests.helpers import PASSWORD, follow, submit
from tests.http.device import DEVICE_GRANT, create_user, reach_confirm
from tests.http.device import start as device_start
from tests.pages import csp, start

REDIRECT = "https://app.example/cb"
SHOWN = (
    "--logo-uri",
    "https://cdn.photos.example/logo.png",
    "--client-uri",
    "https://photos.example/",
    "--policy-uri",
    "https://photos.example/privacy",
    "--tos-uri",
    "https://photos.example/terms",
)


def consent_page(http, client):  # type: ignore[no-untyped-def]
    response, _, _ = start(http, client)
    page = follow(http, response)
    response = submit(http, page, username="alice", password=PASSWORD)
    page = follow(http, response)
    assert page.status_code == 200 and 'action="/consent"' in page.text, page.text
    return page


def test_the_cli_registers_and_shows_the_metadata(register, cli):
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, *SHOWN, name="Photos")
    assert client["logo_uri"] == "https://cdn.photos.example/logo.png"
    shown = cli("client", "show", client["client_id"], "--json").json()
    assert (shown["client_uri"], shown["policy_uri"], shown["tos_uri"]) == (
        "https://photos.example/",
        "https://photos.example/privacy",
        "https://photos.example/terms",
    )


def test_the_consent_page_shows_the_logo_and_links(http, register, alice):
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, *SHOWN, name="Photos")
    page = consent_page(http, client)
    assert (
        '<img class="client-logo" src="https://cdn.photos.example/logo.png" alt="" width="48" height="48">' in page.text
    )
    for href in ("https://photos.example/", "https://photos.example/privacy", "https://photos.example/terms"):
        assert f'<a href="{href}" target="_blank" rel="noopener noreferrer">' in page.text
    assert "About Photos" in page.text and "Privacy policy" in page.text and "Terms of service" in page.text
    assert csp(page)["img-src"] == ["'self'", "data:", "https://cdn.photos.example"]


def test_a_client_without_metadata_shows_neither(http, register, alice):
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="Plain")
    page = consent_page(http, client)
    assert "client-logo" not in page.text and "client-links" not in page.text
    assert csp(page)["img-src"] == ["'self'", "data:"]


def test_a_logo_from_our_static_files(http, register, alice):
    client = register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--logo-uri", "/static/photos.png", name="P"
    )
    page = consent_page(http, client)
    assert 'src="/static/photos.png"' in page.text
    assert csp(page)["img-src"] == ["'self'", "data:"]


def test_the_device_page_shows_them_too(make_app, register, cli):
    create_user(cli, "alice")
    http = make_app(device_poll_interval=1)
    tv = register("--public", "--grant-type", DEVICE_GRANT, *SHOWN, name="Living Room TV")
    page = reach_confirm(http, device_start(http, tv)["user_code"])
    assert 'class="client-logo" src="https://cdn.photos.example/logo.png"' in page.text
    assert 'href="https://photos.example/privacy"' in page.text
    assert "https://cdn.photos.example" in csp(page)["img-src"]


def test_urls_are_escaped_in_the_page(http, register, alice):
    client = register(
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--policy-uri",
        'https://photos.example/"onmouseover="alert(1)',
        name="Photos",
    )
    page = consent_page(http, client)
    assert 'href="https://photos.example/&#34;onmouseover=&#34;alert(1)"' in page.text


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--logo-uri", "http://cdn.example/logo.png"),
        ("--logo-uri", "javascript:alert(1)"),
        ("--logo-uri", "data:image/png;base64,AAAA"),
        ("--logo-uri", "/static/../keys/secret"),
        ("--logo-uri", "/elsewhere/logo.png"),
        ("--logo-uri", "https://cdn.example/logo with space.png"),
        ("--client-uri", "javascript:alert(1)"),
        ("--client-uri", "http://photos.example/"),
        ("--policy-uri", "/privacy"),
        ("--tos-uri", "https://user:pw@photos.example/terms"),
    ],
)
def test_unsafe_metadata_is_refused(cli, flag, value):
    result = cli(
        "client", "create", "--name", "x", "--grant-type", "authorization_code", "--redirect-uri", REDIRECT, flag, value
    )
    assert result.code != 0
    assert flag in result.err
    assert cli("client", "list", "--json").json() == []


def test_loopback_http_pages_are_allowed_for_development(cli):
    result = cli(
        "client",
        "create",
        "--name",
        "dev",
        "--json",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        "http://127.0.0.1:3000/cb",
        "--client-uri",
        "http://localhost:3000/",
    )
    assert result.code == 0, result.err
    assert result.json()["client_uri"] == "http://localhost:3000/"
