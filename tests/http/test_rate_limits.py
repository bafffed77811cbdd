"""Rate limits (the `limits` library, shared through Redis when configured): 429 with Retry-After,
JSON for API endpoints and a page for browser pages; other clients and addresses are unaffected."""

from __future__ import annotations

from tests.helpers import PASSWORD, authorize, authorize_params, basic, follow, pkce_pair, submit


def test_token_endpoint_is_limited_per_client(make_app, register):
    http = make_app(rate_limit_token="3/minute")
    busy, calm = register(name="busy"), register(name="calm")
    auth = basic(busy["client_id"], busy["client_secret"])
    codes = [http.post("/token", data={"grant_type": "client_credentials"}, headers=auth).status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200]
    limited = http.post("/token", data={"grant_type": "client_credentials"}, headers=auth)
    assert limited.status_code == 429
    assert limited.json()["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    assert limited.headers["cache-control"] == "no-store"
    other = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(calm["client_id"], calm["client_secret"])
    )
    assert other.status_code == 200


def test_introspection_and_revocation_are_limited_per_client(make_app, register):
    http = make_app(rate_limit_introspect="2/minute", rate_limit_revoke="2/minute")
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    for path in ("/introspect", "/revoke"):
        statuses = [http.post(path, data={"token": "x"}, headers=auth).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


def test_unauthenticated_requests_are_counted_per_address(make_app):
    http = make_app(rate_limit_token_ip="2/minute")
    statuses = [http.post("/token", data={"grant_type": "client_credentials"}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_login_form_is_limited_per_account_with_a_page(make_app, cli, register):
    http = make_app(rate_limit_login_account="2/minute", login_max_failures=50)
    assert (
        cli(
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        ).code
        == 0
    )
    client = register("--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb")
    page = follow(http, authorize(http, authorize_params(client, pkce_pair()[1])))
    for _ in range(2):
        assert submit(http, page, username="alice", password="wrong password!").status_code == 400
    limited = submit(http, page, username="alice", password=PASSWORD)
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    assert "retry-after" in limited.headers
    assert "Too many" in limited.text


def test_limits_can_be_switched_off(make_app, register):
    http = make_app(rate_limit_token="1/minute", rate_limits_enabled=False)
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    assert all(
        http.post("/token", data={"grant_type": "client_credentials"}, headers=auth).status_code == 200
        for _ in range(3)
    )


def test_malformed_limit_setting_is_refused(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_RATE_LIMIT_TOKEN", "lots")
    result = cli("client", "list")
    assert result.code == 1
    assert "AUTHSERVER_RATE_LIMIT_TOKEN" in result.err
