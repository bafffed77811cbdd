"""`authserver serve` as a real process: uvicorn, one or several workers, clean shutdown."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import basic
from tests.server import start, stop

pytestmark = pytest.mark.slow


def test_single_worker_serves_and_stops_cleanly(env, register, tmp_path):
    client = register()
    proc, base = start(env, tmp_path)
    try:
        meta = httpx.get(base + "/.well-known/openid-configuration").json()
        assert meta["issuer"] == base
        token = httpx.post(
            base + "/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client["client_id"], client["client_secret"]),
        )
        assert token.status_code == 200
    finally:
        out = stop(proc)
    assert f"{base}/.well-known/openid-configuration" in out
    assert "Traceback" not in out
    assert client["client_secret"] not in out


@pytest.mark.skipif(not REDIS_URL, reason="several workers share state through Redis")
def test_two_workers_share_keys_and_revocations(env, register, tmp_path):
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    proc, base = start(env, tmp_path, "--workers", "2")
    try:
        with httpx.Client(base_url=base) as http:
            kids = set()
            tokens = []
            for _ in range(40):
                # A new connection each time, so requests spread over both workers.
                response = httpx.post(base + "/token", data={"grant_type": "client_credentials"}, headers=auth)
                assert response.status_code == 200
                tokens.append(response.json()["access_token"])
                kids.add(tokens[-1].split(".")[0])
            assert len(kids) == 1, "every worker signs with the same key"
            assert http.post("/revoke", data={"token": tokens[0]}, headers=auth).status_code == 200
            for _ in range(20):
                seen = httpx.post(base + "/introspect", data={"token": tokens[0]}, headers=auth).json()
                assert seen == {"active": False}
            assert all(
                httpx.post(base + "/introspect", data={"token": t}, headers=auth).json()["active"] for t in tokens[1:10]
            )
    finally:
        stop(proc)


@pytest.mark.skipif(bool(REDIS_URL), reason="only the in-process cache refuses several workers")
def test_several_workers_without_redis_are_refused(cli):
    result = cli("serve", "--workers", "2")
    assert result.code == 1
    assert "AUTHSERVER_REDIS_URL" in result.err


def _failed_login_ip(env, cli, register, tmp_path, extra_env):  # type: ignore[no-untyped-def]
    from tests.helpers import PASSWORD, authorize_params, forms, pkce_pair

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
    web = register("--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb")
    proc, base = start({**env, **extra_env}, tmp_path)
    try:
        with httpx.Client(base_url=base, headers={"X-Forwarded-For": "203.0.113.9"}) as browser:
            page = browser.get(
                browser.get("/authorize", params=authorize_params(web, pkce_pair()[1])).headers["location"]
            )
            form = forms(page.text)[0]
            browser.post(form["action"], data={**form["fields"], "username": "alice", "password": "wrong one"})
    finally:
        stop(proc)
    events = [e for e in cli("audit", "list", "--json").json() if e["event"] == "login.failed"]
    return events[-1]["ip"]


def test_client_address_comes_from_x_forwarded_for_only_from_trusted_proxies(env, cli, register, tmp_path):
    assert _failed_login_ip(env, cli, register, tmp_path, {}) == "127.0.0.1"


def test_trusted_proxy_supplies_the_client_address(env, cli, register, tmp_path):
    ip = _failed_login_ip(env, cli, register, tmp_path, {"AUTHSERVER_FORWARDED_ALLOW_IPS": "127.0.0.1"})
    assert ip == "203.0.113.9"


def test_sigterm_drains_first_readyz_fails_while_requests_are_still_served(env, tmp_path):
    proc, base = start({**env, "AUTHSERVER_SHUTDOWN_DRAIN_SECONDS": "3"}, tmp_path)
    try:
        import signal as _signal
        import time as _time

        proc.send_signal(_signal.SIGTERM)
        _time.sleep(0.5)
        assert httpx.get(base + "/readyz").status_code == 503  # the load balancer takes us out...
        assert httpx.get(base + "/.well-known/openid-configuration").status_code == 200  # ...we still serve
        assert proc.poll() is None
    finally:
        out = stop(proc)
    assert "Traceback" not in out
