"""Branding: product name, logo, primary colour and support link from the settings; a theme directory
(AUTHSERVER_THEME_DIR) replaces any template or static file, and the example theme renders every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authserver.i18n import Catalogs
from authserver.resources import resource_dir
from authserver.settings import InvalidSettings, Settings
from authserver.web.pages import Branding, Pages
from authserver.web.theme import template_dirs
from tests.pages import csp, start

REDIRECT = "https://app.example/cb"
EXAMPLE_THEME = Path(__file__).resolve().parents[2] / "themes" / "example"


@pytest.fixture
def client(register, alice):  # type: ignore[no-untyped-def]
    return register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="Photo App")


def login_page(http, client):  # type: ignore[no-untyped-def]
    response, _, _ = start(http, client)
    return http.get(response.headers["location"], follow_redirects=False)


def test_the_default_brand(http, client):
    page = login_page(http, client)
    assert "<title>Sign in · authserver</title>" in page.text
    assert '<span class="logo" aria-hidden="true">◆</span> authserver' in page.text
    assert "/brand.css" not in page.text and "site-footer" not in page.text
    assert csp(page)["img-src"] == ["'self'", "data:"]


def test_product_name_logo_colour_and_support_link(make_app, client):
    http = make_app(
        product_name="Acme ID",
        logo_url="https://cdn.acme.example/logo.png",
        primary_color="#8A3B12",
        support_url="https://help.acme.example/sign-in",
    )
    page = login_page(http, client)
    assert "<title>Sign in · Acme ID</title>" in page.text
    assert (
        '<img class="brand-logo" src="https://cdn.acme.example/logo.png" alt="" width="32" height="32"> Acme ID'
        in page.text
    )
    assert '<a href="https://help.acme.example/sign-in">Help and support</a>' in page.text
    assert '<link rel="stylesheet" href="/brand.css">' in page.text
    # The logo's origin, and only it, joins img-src; styles stay 'self' (the colour is a stylesheet).
    assert csp(page)["img-src"] == ["'self'", "data:", "https://cdn.acme.example"]
    assert csp(page)["style-src"] == ["'self'"]
    css = http.get("/brand.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--primary-bg: #8a3b12;" in css.text and "--primary-hover: #75320f;" in css.text
    # The support link is on error pages too, next to the reference to give.
    error = http.get("/consent?interaction=gone")
    assert error.status_code == 400 and "https://help.acme.example/sign-in" in error.text


def test_a_logo_from_our_own_static_files_needs_no_other_origin(make_app, client):
    page = login_page(make_app(logo_url="/static/logo.svg"), client)
    assert 'src="/static/logo.svg"' in page.text
    assert csp(page)["img-src"] == ["'self'", "data:"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("logo_url", "http://cdn.example/logo.png"),  # not https
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", "data:image/svg+xml,<svg/>"),
        ("logo_url", "/static/../settings.py"),
        ("logo_url", "//cdn.example/logo.png"),
        ("logo_url", "https://user:pass@cdn.example/logo.png"),
        ("primary_color", "red"),
        ("primary_color", "#fc0"),
        ("primary_color", "#ffcc00"),  # white text on yellow: 1.5:1, below WCAG AA
        ("primary_color", "#7a9bff"),  # 2.6:1
        ("support_url", "javascript:alert(1)"),
        ("support_url", "help.example"),
        ("product_name", ""),
        ("product_name", "x" * 61),
        ("theme_dir", "/nonexistent/theme"),
    ],
)
def test_unsafe_or_unreadable_branding_is_refused(env, setting, value):
    with pytest.raises(InvalidSettings, match=setting):
        Settings(**{setting: value})


def test_production_refuses_a_plain_http_support_link(env):
    settings = Settings(
        env="production",
        issuer="https://id.example",
        database_url="postgresql+psycopg://u:p@db/x",
        redis_url="redis://cache:6379/0",
        secret_key="s" * 40,
        metrics_token="m" * 40,
        password_reset=False,
        support_url="http://help.example",
    )
    assert any("AUTHSERVER_SUPPORT_URL" in problem for problem in settings.production_problems())


# --- themes ---------------------------------------------------------------------------------------

PAGE_TEMPLATES = sorted(p.name for p in resource_dir("templates").glob("*.html") if not p.name.startswith("_"))

# One context that every page template can render with (each uses the names it needs).
USER = {"name": "Alice Example", "username": "alice", "email": "alice@example.com", "email_verified": True}
CONTEXT = {
    "interaction": "it-1",
    "csrf_token": "csrf",
    "username": "alice",
    "error": "Incorrect username or password.",
    "notice": "Two-step verification is on.",
    "client_name": "Photo App",
    "signup_open": True,
    "password_reset": True,
    "items": ["See your email address"],
    "user_code": "BCDF-GHJK",
    "email": "alice@example.com",
    "token": "t",
    "continue_url": "/login?interaction=it-1",
    "approved": True,
    "signed_in": True,
    "changed": False,
    "codes": ["1111-2222"],
    "first": True,
    "title": "Sign-in expired",
    "message": "This sign-in request has expired or was already used. Go back to the application and start again.",
    "request_id": "req-1",
    "detail": "invalid_request_uri: Only request_uri values from our PAR endpoint work",
    "error_field": "",
    "action": REDIRECT,
    "location": REDIRECT,
    "fields": [("state", "s")],
    "totp": True,
    "passkeys": [],
    "minutes": 5,
    "next": "/account",
    "min_length": 12,
    "values": {"username": "bob"},
    "errors": {},
    "sign_in": "/login",
    "qr_svg": "<svg></svg>",
    "otpauth_uri": "otpauth://totp/x",
    "secret": "ABCD",
    "user": USER,
    "second_factor": True,
    "totp_active": True,
    "totp_since": 1_700_000_000,
    "backup_left": 9,
    "sessions": [{"sid": "s1", "current": True, "created": 1_700_000_000, "last_seen": 1_700_000_100, "mfa": True}],
    "apps": [{"client_id": "c", "name": "Photo App", "since": 1_700_000_000, "scopes": ["See your email address"]}],
    "history": [],
    "upstreams": [
        {"name": "corp", "display_name": "Corp", "linked": True, "email": "bob@corp.example", "since": 1_700_000_000}
    ],
}


def theme_pages(theme: Path | None, **settings: object) -> Pages:
    configured = Settings(theme_dir=theme, **settings)  # type: ignore[arg-type]
    return Pages(template_dirs(configured), Catalogs(resource_dir("locales")), Branding(product_name="Acme ID"))


def test_the_page_list_is_complete():
    # A new page template must be rendered here (and documented in README's list of templates).
    assert len(PAGE_TEMPLATES) >= 25 and "login.html" in PAGE_TEMPLATES and "error.html" in PAGE_TEMPLATES


@pytest.mark.parametrize("template", PAGE_TEMPLATES)
def test_the_example_theme_renders_every_page(env, template):
    themed = theme_pages(EXAMPLE_THEME).render(template, dict(CONTEXT))
    html = themed.body.decode()
    assert themed.status_code == 200
    assert '<link rel="stylesheet" href="/static/app.css">' in html  # the built-in page, restyled
    assert '<link rel="stylesheet" href="/static/example-theme.css">' in html
    assert '<footer class="site-footer example-footer">' in html and "Example Corp" in html
    assert re.search(r"<main class=\"card [^\"]*\" id=\"main\">", html)
    plain = theme_pages(None).render(template, dict(CONTEXT)).body.decode()
    assert "example-theme.css" not in plain and "Example Corp" not in plain


def test_a_theme_serves_its_static_files_and_keeps_the_built_in_ones(make_app, client):
    themed = make_app(theme_dir=str(EXAMPLE_THEME))
    assert themed.get("/static/example-theme.css").status_code == 200
    assert themed.get("/static/example-logo.svg").headers["content-type"].startswith("image/svg+xml")
    assert themed.get("/static/app.css").status_code == 200
    assert themed.get("/static/../README.md").status_code == 404
    plain = make_app()
    assert plain.get("/static/example-theme.css").status_code == 404
    page = login_page(themed, client)
    assert 'src="/static/example-logo.svg"' in page.text and "Example Corp" in page.text


def test_a_theme_file_replaces_the_built_in_one(make_app, client, tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("body { color: rebeccapurple; }")
    (tmp_path / "templates" / "login.html").write_text(
        '{% extends "default/login.html" %}{% block title %}Welcome back{% endblock %}'
    )
    http = make_app(theme_dir=str(tmp_path))
    assert http.get("/static/app.css").text == "body { color: rebeccapurple; }"
    page = login_page(http, client)
    assert "<title>Welcome back · authserver</title>" in page.text
    assert '<input id="username"' in page.text  # the rest of the built-in page
