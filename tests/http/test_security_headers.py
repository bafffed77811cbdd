"""Response headers (issue 9 finding 11): HSTS on every response when the issuer is https; pages also
carry Cross-Origin-Opener-Policy and Cross-Origin-Resource-Policy (same-origin)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from authserver.app import create_app
from authserver.settings import Settings
from tests.helpers import PASSWORD, authorize, authorize_params, basic, follow, pkce_pair, submit

SIGN_IN = ("--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb")


@pytest.fixture
def https(env):  # type: ignore[no-untyped-def]
    with TestClient(create_app(Settings(issuer="https://testserver")), base_url="https://testserver") as client:
        yield client


def _responses(http: TestClient, client: dict) -> dict[str, object]:
    """One response of each kind: JSON API, discovery, error JSON, 404, 405, 413, a page, a page error,
    a redirect, a static file."""
    page = follow(http, authorize(http, authorize_params(client, pkce_pair()[1])))
    return {
        "token": http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client["client_id"], client["client_secret"]),
        ),
        "discovery": http.get("/.well-known/openid-configuration"),
        "invalid_client": http.post("/token", data={"grant_type": "client_credentials", "client_id": "nobody"}),
        "not_found": http.get("/no-such-path"),
        "method": http.get("/token"),
        "too_large": http.post("/token", content=b"a" * 70_000, headers={"content-type": "text/plain"}),
        "login_page": page,
        "wrong_password": submit(http, page, username="alice", password="not the password"),
        "error_page": http.get("/authorize", params={"client_id": "nobody", "response_type": "code"}),
        "redirect": authorize(http, authorize_params(client, pkce_pair()[1])),
        "static": http.get("/static/app.css"),
    }


PAGES = ("login_page", "wrong_password", "error_page")


def test_https_issuer_sends_hsts_on_every_response(https, register, alice):
    client = register(*SIGN_IN, "--grant-type", "client_credentials")
    for kind, response in _responses(https, client).items():
        assert response.headers.get("strict-transport-security") == "max-age=31536000", kind


def test_http_issuer_sends_no_hsts(http, register, alice):
    client = register(*SIGN_IN, "--grant-type", "client_credentials")
    for kind, response in _responses(http, client).items():
        assert "strict-transport-security" not in response.headers, kind


@pytest.mark.parametrize("issuer", ["http", "https"])
def test_pages_keep_other_origins_out(issuer, http, https, register, alice):
    app = https if issuer == "https" else http
    client = register(*SIGN_IN, "--grant-type", "client_credentials")
    responses = _responses(app, client)
    for kind in PAGES:
        response = responses[kind]
        assert response.headers["content-type"].startswith("text/html"), kind
        assert response.headers["cross-origin-opener-policy"] == "same-origin", kind
        assert response.headers["cross-origin-resource-policy"] == "same-origin", kind
        assert response.headers["x-frame-options"] == "DENY", kind
    # APIs keep their answers readable by relying parties' scripts through CORS-less fetches of public
    # metadata (discovery, JWKS): no CORP there.
    assert "cross-origin-resource-policy" not in responses["discovery"].headers
    assert responses["wrong_password"].status_code == 400
    assert responses["error_page"].status_code == 400
    assert PASSWORD not in responses["wrong_password"].text
