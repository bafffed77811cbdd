"""PostgreSQL going away under a running `authserver serve`, without touching the shared cluster.

Connections are dropped with pg_terminate_backend; an outage is simulated by refusing new
connections to this run's database (ALTER DATABASE ... ALLOW_CONNECTIONS false, issued from the
admin database) and terminating the existing ones. Always re-allowed in a finally.

While the database is down:
- /readyz answers 503 with checks.database "unavailable" (/healthz, discovery and the JWKS still 200);
- /token, /introspect, /revoke answer 503 JSON {"error": "temporarily_unavailable"}, never 500;
- /authorize and /login answer a 503 HTML page, and nobody is signed in;
- codes and refresh tokens issued before the outage are not used up by failed attempts;
- the server logs warnings, never an unhandled-exception traceback.
When the database is back, everything works again within seconds, without restarting the server.
Dropped connections alone (no outage) cost no request at all (pool_pre_ping).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.helpers import (
    PASSWORD,
    authorize,
    authorize_params,
    basic,
    exchange,
    follow,
    pkce_pair,
    sign_in,
    submit,
)
from tests.server import LoggedServer, assert_no_tracebacks

PG_URL = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("AUTHSERVER_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (PG_URL and REDIS_URL), reason="needs AUTHSERVER_TEST_DATABASE_URL and AUTHSERVER_TEST_REDIS_URL"
    ),
]

REDIRECT = "https://app.example/cb"
UNAVAILABLE = {"error": "temporarily_unavailable"}
RECOVERY_SECONDS = 10


# --- a real server whose log is read as it runs ----------------------------------------------------


@pytest.fixture
def server(env, tmp_path) -> Iterator[LoggedServer]:  # type: ignore[no-untyped-def]
    srv = LoggedServer(env, tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


# --- the database going away -----------------------------------------------------------------------


def database_name(env: dict[str, str]) -> str:
    return sa.engine.make_url(env["AUTHSERVER_DATABASE_URL"]).database  # type: ignore[return-value]


def terminate_connections(env: dict[str, str]) -> int:
    """Drop every other connection to the test database (as a database restart would)."""
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"], isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


def _allow_connections(admin: sa.Engine, name: str, allowed: bool) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}'))
        if not allowed:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )


@contextlib.contextmanager
def database_down(env: dict[str, str]) -> Iterator[None]:
    """This run's database refuses connections and has none open, until the block ends."""
    name = database_name(env)
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)  # type: ignore[arg-type]
    try:
        _allow_connections(admin, name, False)
        yield
    finally:
        _allow_connections(admin, name, True)
        admin.dispose()


def wait_until_ready(base: str) -> float:
    """Seconds until /readyz answers 200 again (bounded)."""
    started = time.monotonic()
    while True:
        response = httpx.get(base + "/readyz", timeout=5)
        if response.status_code == 200:
            return time.monotonic() - started
        assert time.monotonic() - started < RECOVERY_SECONDS, f"not ready after {RECOVERY_SECONDS}s: {response.text}"
        time.sleep(0.2)


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def app(register, alice) -> dict:  # type: ignore[no-untyped-def]
    return register(
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        name="Photo App",
    )


def client_credentials(base: str, client: dict) -> httpx.Response:
    return httpx.post(
        base + "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client["client_id"], client["client_secret"]),
        timeout=10,
    )


def introspect(base: str, client: dict, token: str) -> httpx.Response:
    return httpx.post(
        base + "/introspect",
        data={"token": token},
        headers=basic(client["client_id"], client["client_secret"]),
        timeout=10,
    )


def assert_unavailable_json(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == UNAVAILABLE["error"]
    assert "Traceback" not in response.text and "psycopg" not in response.text.lower()


def assert_unavailable_page(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "temporarily unavailable" in response.text
    assert "Traceback" not in response.text and "psycopg" not in response.text.lower()


# --- dropped connections (a failover, a restart, an idle timeout) ------------------------------------


def test_dropped_connections_are_replaced_without_a_single_error(env, server, service):
    base = server.base
    token = client_credentials(base, service).json()["access_token"]
    for _ in range(5):  # fill the pool with a few connections
        assert client_credentials(base, service).status_code == 200
    assert terminate_connections(env) >= 1

    statuses = []
    for i in range(20):
        response = (
            client_credentials(base, service)
            if i % 3 == 0
            else introspect(base, service, token)
            if i % 3 == 1
            else httpx.get(base + "/readyz", timeout=10)
        )
        statuses.append(response.status_code)
    assert statuses == [200] * 20, statuses

    # A second drop, right in the middle of traffic, is just as invisible.
    terminate_connections(env)
    assert [client_credentials(base, service).status_code for _ in range(10)] == [200] * 10
    assert_no_tracebacks(server.stop())


# --- an outage of several seconds -------------------------------------------------------------------


def test_readyz_reports_the_database_and_recovers_without_restart(env, server):
    base = server.base
    assert httpx.get(base + "/readyz").json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}
    with database_down(env):
        for _ in range(3):
            response = httpx.get(base + "/readyz", timeout=10)
            assert response.status_code == 503
            assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable", "cache": "ok"}}
            time.sleep(0.3)
        # Liveness is not readiness: the process itself is fine, and discovery needs no database.
        assert httpx.get(base + "/healthz").status_code == 200
        assert httpx.get(base + "/.well-known/openid-configuration").status_code == 200
    assert wait_until_ready(base) < 5
    assert httpx.get(base + "/readyz").json()["checks"] == {"database": "ok", "cache": "ok"}
    assert_no_tracebacks(server.stop())


def test_token_endpoints_answer_503_json_during_an_outage_and_recover(env, server, service):
    base = server.base
    token = client_credentials(base, service).json()["access_token"]
    with database_down(env):
        time.sleep(0.3)
        for _ in range(3):
            assert_unavailable_json(client_credentials(base, service))
        assert_unavailable_json(introspect(base, service, token))
        revoked = httpx.post(
            base + "/revoke", data={"token": token}, headers=basic(service["client_id"], service["client_secret"])
        )
        assert_unavailable_json(revoked)
        # A wrong secret cannot be checked either: 503, not invalid_client (nothing was decided).
        wrong = httpx.post(
            base + "/token",
            data={"grant_type": "client_credentials"},
            headers=basic(service["client_id"], "not-the-secret"),
        )
        assert_unavailable_json(wrong)
    wait_until_ready(base)
    deadline = time.monotonic() + RECOVERY_SECONDS
    while client_credentials(base, service).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [client_credentials(base, service).status_code for _ in range(5)] == [200] * 5
    assert introspect(base, service, token).json()["active"] is True
    log = server.stop()
    assert_no_tracebacks(log)
    assert "backend unavailable on /token" in log  # operators see a warning per failed request


def test_sign_in_pages_answer_503_pages_during_an_outage_and_recover(env, server, app):
    base = server.base
    with httpx.Client(base_url=base, timeout=10) as browser, httpx.Client(base_url=base, timeout=10) as other:
        # One browser is on the login page when the database goes away.
        _, challenge = pkce_pair()
        login_page = follow(browser, authorize(browser, authorize_params(app, challenge)))
        assert login_page.status_code == 200
        with database_down(env):
            time.sleep(0.3)
            # Another user arrives from the app.
            _, other_challenge = pkce_pair()
            assert_unavailable_page(authorize(other, authorize_params(app, other_challenge)))
            # The first reloads the login page, then submits it.
            assert_unavailable_page(browser.get(login_page.url.raw_path.decode()))
            refused = submit(browser, login_page, username="alice", password=PASSWORD)
            assert_unavailable_page(refused)
            assert "as_session" not in refused.headers.get("set-cookie", "")
        wait_until_ready(base)
        # The same login form works once the database is back (the pending sign-in lives in Redis).
        response = submit(browser, login_page, username="alice", password=PASSWORD)
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/consent")
        # And a fresh sign-in works end to end.
        callback, verifier, _ = sign_in(other, app)
        assert exchange(other, app, callback["code"], verifier).status_code == 200
    assert_no_tracebacks(server.stop())


def test_codes_and_refresh_tokens_from_before_an_outage_work_after_it(env, server, app):
    base = server.base
    auth = basic(app["client_id"], app["client_secret"])
    with httpx.Client(base_url=base, timeout=10) as browser:
        earlier, earlier_verifier, _ = sign_in(browser, app)
        tokens = exchange(browser, app, earlier["code"], earlier_verifier).json()
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        callback, verifier, _ = sign_in(browser, app)  # signed in already: straight to a code
        code = callback["code"]  # issued, not yet redeemed
        with database_down(env):
            time.sleep(0.3)
            # The client tries during the outage: 503, and neither the code nor the refresh token
            # may be used up by the failed attempts.
            assert_unavailable_json(exchange(browser, app, code, verifier))
            assert_unavailable_json(exchange(browser, app, code, verifier))
            assert_unavailable_json(browser.post("/token", data=refresh, headers=auth))
        wait_until_ready(base)
        first = exchange(browser, app, code, verifier)
        assert first.status_code == 200, first.text
        assert {"access_token", "id_token", "refresh_token"} <= first.json().keys()
        second = exchange(browser, app, code, verifier)
        assert second.status_code == 400
        assert second.json()["error"] == "invalid_grant"
        # The refresh token was neither rotated nor burned: no reuse detection fires.
        rotated = browser.post("/token", data=refresh, headers=auth)
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    assert_no_tracebacks(server.stop())


def test_jwks_and_cached_clients_keep_serving_during_an_outage(env, tmp_path, service):
    # Verifiers refreshing their JWKS cache during an outage must still find the keys, or they would
    # reject valid tokens. Production-like refresh intervals (the test defaults of 0 read every time).
    srv = LoggedServer(env, tmp_path, AUTHSERVER_KEY_REFRESH_SECONDS="1", AUTHSERVER_CLIENT_CACHE_SECONDS="60")
    try:
        before = httpx.get(srv.base + "/jwks.json")
        assert before.status_code == 200
        token = client_credentials(srv.base, service).json()["access_token"]  # the client is now cached
        with database_down(env):
            time.sleep(1.5)  # the loaded key set is now "stale"
            during = httpx.get(srv.base + "/jwks.json", timeout=10)
            assert during.status_code == 200, during.text
            assert during.json() == before.json()
            # A client record read in the last CLIENT_CACHE_SECONDS is served from memory: client
            # credentials and introspection of access tokens (JWT + Redis denylist) keep working.
            assert client_credentials(srv.base, service).status_code == 200
            assert introspect(srv.base, service, token).json()["active"] is True
            assert httpx.get(srv.base + "/readyz", timeout=10).status_code == 503
    finally:
        log = srv.stop()
    assert_no_tracebacks(log)


# --- a connection lost in the middle of a code redemption --------------------------------------------


@contextlib.contextmanager
def connection_lost_on_refresh_token_insert(env: dict[str, str]) -> Iterator[None]:
    """The server's connection dies (pg_terminate_backend of itself) when it inserts a refresh token:
    a database failover landing between the steps of one request."""
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"], isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(
                sa.text(
                    "CREATE FUNCTION ops_test_lose_connection() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE TRIGGER ops_test_lose_connection BEFORE INSERT ON refresh_tokens "
                    "FOR EACH ROW EXECUTE FUNCTION ops_test_lose_connection()"
                )
            )
        yield
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS ops_test_lose_connection ON refresh_tokens"))
            conn.execute(sa.text("DROP FUNCTION IF EXISTS ops_test_lose_connection()"))
        engine.dispose()


def test_a_redemption_cut_short_by_a_lost_connection_leaves_the_code_redeemable(env, server, app):
    base = server.base
    with httpx.Client(base_url=base, timeout=10) as browser:
        callback, verifier, _ = sign_in(browser, app)
        with connection_lost_on_refresh_token_insert(env):
            cut = exchange(browser, app, callback["code"], verifier)
        assert_unavailable_json(cut)  # nothing was handed out ...
        retry = exchange(browser, app, callback["code"], verifier)
        # ... so the client's retry must succeed (README: "a request that could not store its result
        # answers 503"; "a code issued before an outage is still redeemable, once, after it").
        assert retry.status_code == 200, retry.text
    assert_no_tracebacks(server.stop())
