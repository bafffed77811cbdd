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


def _freeze_in_a_minute(clock) -> None:  # type: ignore[no-untyped-def]
    """The app's clock stopped one second into a minute window (a run near a boundary would split counts)."""
    import time

    clock.freeze((time.time() // 60 + 1) * 60 + 1)


def test_a_leased_limit_admits_exactly_its_amount_in_a_window(make_app, register, clock):
    # 400/minute: each round trip leases 4 requests (1%), which must add up to exactly 400, then
    # refusals until the next window.
    _freeze_in_a_minute(clock)
    http = make_app(rate_limit_introspect="400/minute")
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    statuses = [http.post("/introspect", data={"token": "x"}, headers=auth).status_code for _ in range(403)]
    assert statuses.count(200) == 400
    assert statuses[400:] == [429, 429, 429]
    refused = http.post("/introspect", data={"token": "x"}, headers=auth)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 60  # 59 s left in the window, rounded up
    clock.advance(60)
    assert http.post("/introspect", data={"token": "x"}, headers=auth).status_code == 200


def test_processes_sharing_redis_never_admit_more_than_the_limit_together(make_app, register, clock):
    import pytest

    from tests.conftest import REDIS_URL

    if not REDIS_URL:
        pytest.skip("limits are shared between processes through Redis only")
    _freeze_in_a_minute(clock)
    first, second = make_app(rate_limit_introspect="400/minute"), make_app(rate_limit_introspect="400/minute")
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    admitted = 0
    for i in range(420):
        app = first if i % 3 else second  # uneven use, so one process strands part of its lease
        admitted += app.post("/introspect", data={"token": "x"}, headers=auth).status_code == 200
    # Never above the limit; below it by at most what the two processes leased and did not use.
    assert 400 - 2 * 3 <= admitted <= 400
