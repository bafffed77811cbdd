"""/metrics (Prometheus) and structured logs: what operators see, and what they must never see."""

from __future__ import annotations

import json

import httpx
import pytest

from authserver.endpoints import userinfo
from authserver.interaction import logout
from tests.helpers import PASSWORD, authorize, authorize_params, basic, client_token, follow, pkce_pair, submit
from tests.server import start, stop


def test_metrics_count_requests_tokens_and_logins(http, register, cli):
    client = register()
    token = client_token(http, client)["access_token"]
    http.get("/no/such/path/secret-looking-value")
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
    web = register("--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb", name="web")
    page = follow(http, authorize(http, authorize_params(web, pkce_pair()[1])))
    submit(http, page, username="alice", password="not the password")

    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        f'authserver_tokens_issued_total{{client_id="{client["client_id"]}",grant_type="client_credentials"}} 1.0'
        in text
    )
    assert 'authserver_http_requests_total{method="POST",route="/token",status="200"}' in text
    assert 'authserver_logins_total{result="failure"} 1.0' in text
    assert 'route="unmatched"' in text
    assert "authserver_http_request_duration_seconds_bucket" in text
    assert "authserver_db_pool_checked_out" in text
    # Labels never carry tokens, secrets or caller-invented strings.
    for leaked in (token, client["client_secret"], "secret-looking-value", "not the password"):
        assert leaked not in text


def test_a_crashing_endpoint_is_a_500_without_details_and_is_counted(make_app, monkeypatch):
    async def crash(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("internal detail from /srv/authserver/secret.py")

    monkeypatch.setattr(userinfo, "userinfo", crash)
    monkeypatch.setattr(logout, "logout", crash)
    http = make_app(raise_server_exceptions=False)
    api = http.get("/userinfo")
    assert api.status_code == 500
    assert api.json() == {"error": "server_error", "error_description": "Internal error"}
    page = http.get("/logout")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    for response in (api, page):
        assert "internal detail" not in response.text and "Traceback" not in response.text
    text = http.get("/metrics").text
    assert 'authserver_http_requests_total{method="GET",route="/userinfo",status="500"} 1.0' in text
    assert 'authserver_http_requests_total{method="GET",route="/logout",status="500"} 1.0' in text


def test_rate_limit_rejections_are_counted(make_app, register):
    http = make_app(rate_limit_token="1/minute")
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    http.post("/token", data={"grant_type": "client_credentials"}, headers=auth)
    assert http.post("/token", data={"grant_type": "client_credentials"}, headers=auth).status_code == 429
    assert 'authserver_rate_limited_total{limit="token"} 1.0' in http.get("/metrics").text


def test_metrics_can_require_a_token(make_app):
    http = make_app(metrics_token="metrics-secret-value-123")
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.get("/metrics", headers={"Authorization": "Bearer metrics-secret-value-123"}).status_code == 200


@pytest.mark.slow
def test_logs_are_json_with_request_ids_and_never_carry_secrets(env, cli, register, tmp_path):
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
    client = register()
    web = register(
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        "https://app.example/cb",
        "--first-party",
        name="web",
    )
    proc, base = start({**env, "AUTHSERVER_ACCESS_LOG_SAMPLE_RATE": "1"}, tmp_path)
    secrets_seen: list[str] = [PASSWORD, client["client_secret"], web["client_secret"]]
    try:
        with httpx.Client(base_url=base) as http:
            token = http.post(
                "/token",
                data={"grant_type": "client_credentials"},
                headers={**basic(client["client_id"], client["client_secret"]), "X-Request-ID": "trace-abc-123"},
            ).json()["access_token"]
            secrets_seen.append(token)
            http.post("/revoke", data={"token": token}, headers=basic(client["client_id"], client["client_secret"]))
            verifier, challenge = pkce_pair()
            params = authorize_params(web, challenge)
            page = http.get(http.get("/authorize", params=params).headers["location"])
            done = submit(http, page, username="alice", password=PASSWORD)
            code = httpx.URL(done.headers["location"]).params["code"]
            secrets_seen.append(code)
            tokens = http.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "code_verifier": verifier,
                    "redirect_uri": params["redirect_uri"],
                },
                headers=basic(web["client_id"], web["client_secret"]),
            ).json()
            secrets_seen += [tokens["access_token"], tokens["refresh_token"], tokens["id_token"], verifier]
    finally:
        out = stop(proc)
    records = []
    for line in out.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    assert records, out
    traced = [r for r in records if r.get("request_id") == "trace-abc-123"]
    assert any(r.get("event") == "request" and r.get("route") == "/token" and r.get("status") == 200 for r in traced)
    assert any(r.get("client_id") == client["client_id"] for r in traced)
    assert any(r.get("event") == "login.succeeded" and r.get("user_id") for r in records)
    for value in secrets_seen:
        assert value not in out, "a secret reached the logs"


def _access_records(caplog) -> list:  # type: ignore[no-untyped-def]
    return [r for r in caplog.records if r.name == "authserver.access"]


def test_successful_api_calls_are_sampled_in_the_access_log_errors_and_pages_never(make_app, register, caplog):
    http = make_app(access_log_sample_rate=0)
    client = register()
    caplog.set_level("INFO", logger="authserver.access")
    assert client_token(http, client)["access_token"]
    assert http.get("/jwks.json").status_code == 200
    assert _access_records(caplog) == []
    # A failure is always logged, and so is a sign-in page.
    assert http.post("/token", data={"grant_type": "client_credentials"}, headers=basic("nobody", "x")).status_code
    assert http.get("/login").status_code in (200, 400)
    logged = [(r.route, r.status) for r in _access_records(caplog)]
    assert ("/token", 401) in logged
    assert any(route == "/login" for route, _ in logged)
    assert all(not hasattr(r, "sample_rate") for r in _access_records(caplog))
    # The metrics still count every request, sampled or not.
    assert 'authserver_http_requests_total{method="POST",route="/token",status="200"} 1.0' in http.get("/metrics").text


def test_a_sampled_line_says_its_sample_rate(make_app, register, caplog, monkeypatch):
    import random

    http = make_app(access_log_sample_rate=0.25)
    client = register()
    caplog.set_level("INFO", logger="authserver.access")
    monkeypatch.setattr(random, "random", lambda: 0.2)
    client_token(http, client)
    monkeypatch.setattr(random, "random", lambda: 0.3)
    client_token(http, client)
    (record,) = [r for r in _access_records(caplog) if r.route == "/token"]
    assert (record.status, record.sample_rate) == (200, 0.25)


def test_the_access_log_can_log_every_request(make_app, register, caplog):
    http = make_app(access_log_sample_rate=1)
    client = register()
    caplog.set_level("INFO", logger="authserver.access")
    client_token(http, client)
    client_token(http, client)
    records = [r for r in _access_records(caplog) if r.route == "/token"]
    assert [r.status for r in records] == [200, 200]
    assert all(not hasattr(r, "sample_rate") for r in records)
