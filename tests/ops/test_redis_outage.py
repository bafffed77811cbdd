"""Redis going away under a running `authserver serve`: security checks fail closed, then recover.

The shared Redis is never touched: each test runs its own throw-away redis-server (no persistence),
kills it to simulate the outage and starts a new, empty one on the same port to recover.

While Redis is down (documented behaviour, asserted here):
- /readyz answers 503 with checks.cache "unavailable" (the database check stays "ok");
- the hosted pages that need the shared state (/authorize, /login, /device) answer a 503 page: a
  sign-in never completes and the login throttle is never skipped;
- /introspect and /revoke answer 503 JSON: the revocation denylist cannot be read, so a token is
  never reported active; /device_authorization, device polling and private_key_jwt (single-use
  `jti`) answer 503 too;
- /token answers 503 JSON for every grant, client credentials with client_secret_basic included:
  they need only the database, but the per-client rate limit (in Redis) fails closed;
- no unhandled-exception traceback in the server log.
After Redis comes back everything works again within seconds, without restarting authserver. A Redis
that comes back EMPTY is reloaded with the revocations from the database; lockouts and rate-limit
windows start afresh (see the *_documented test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as redis_py
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

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
from tests.server import LoggedServer, assert_no_tracebacks, free_port

PG_URL = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("AUTHSERVER_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (PG_URL and REDIS_URL), reason="needs AUTHSERVER_TEST_DATABASE_URL and AUTHSERVER_TEST_REDIS_URL"
    ),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH"),
]

REDIRECT = "https://app.example/cb"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RECOVERY_SECONDS = 10


# --- a Redis of our own ---------------------------------------------------------------------------


class RedisProcess:
    """A throw-away redis-server on a fixed port: kill() is the outage, start() an empty Redis again."""

    def __init__(self, workdir: Path, password: str | None = None, db: int = 0) -> None:
        self.port = free_port()
        self.password = password
        self.url = f"redis://{':' + password + '@' if password else ''}127.0.0.1:{self.port}/{db}"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis_py.Redis(port=self.port, password=self.password, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    probe.ping()
                    return
                except redis_py.ConnectionError:
                    assert self.proc.poll() is None, "redis-server exited"
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)
        finally:
            probe.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def keys(self) -> int:
        client = redis_py.Redis(port=self.port, password=self.password)
        try:
            return client.dbsize()
        finally:
            client.close()

    def clients(self) -> list[dict]:
        client = redis_py.Redis(port=self.port, password=self.password)
        try:
            return client.client_list()
        finally:
            client.close()


@pytest.fixture
def redis(tmp_path) -> Iterator[RedisProcess]:  # type: ignore[no-untyped-def]
    workdir = tmp_path / "redis"
    workdir.mkdir()
    process = RedisProcess(workdir)
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def server(env, redis, tmp_path) -> Iterator[LoggedServer]:  # type: ignore[no-untyped-def]
    srv = LoggedServer(env, tmp_path, AUTHSERVER_REDIS_URL=redis.url)
    try:
        yield srv
    finally:
        srv.stop()


def outage_then_recovery(redis: RedisProcess, base: str) -> None:
    """Start an empty Redis and wait (bounded) until the server is ready again."""
    redis.start()
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        response = httpx.get(base + "/readyz", timeout=10)
        if response.status_code == 200:
            return
        assert time.monotonic() < deadline, f"not ready {RECOVERY_SECONDS}s after Redis came back: {response.text}"
        time.sleep(0.2)


# --- clients and users ---------------------------------------------------------------------------


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


@pytest.fixture
def tv(register, alice) -> dict:  # type: ignore[no-untyped-def]
    return register("--public", "--grant-type", DEVICE_GRANT, name="Living Room TV")


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


def revoke(base: str, client: dict, token: str) -> httpx.Response:
    return httpx.post(
        base + "/revoke", data={"token": token}, headers=basic(client["client_id"], client["client_secret"]), timeout=10
    )


def assert_unavailable_json(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "temporarily_unavailable"
    assert "active" not in response.json()
    assert "Traceback" not in response.text and "redis" not in response.text.lower()


def assert_unavailable_page(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "temporarily unavailable" in response.text
    assert "Traceback" not in response.text


def sessions_of(env: dict[str, str], user_id: str) -> int:
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM browser_sessions WHERE user_id = :u"), {"u": user_id}
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def jwt_service(register, tmp_path) -> tuple[dict, RSAKey]:  # type: ignore[no-untyped-def]
    key = RSAKey.generate_key(2048, parameters={"kid": "client-key-1"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KeySet([key]).as_dict(private=False)))
    return register("--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", str(path), name="batch"), key


def assertion(client_id: str, key: RSAKey, audience: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def assertion_token(base: str, value: str) -> httpx.Response:
    return httpx.post(
        base + "/token",
        data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": value},
        timeout=10,
    )


# --- readiness --------------------------------------------------------------------------------------


def test_readyz_reports_the_cache_and_recovers_without_restart(server, redis):
    base = server.base
    assert httpx.get(base + "/readyz").json()["checks"] == {"database": "ok", "cache": "ok"}
    redis.kill()
    for _ in range(3):
        response = httpx.get(base + "/readyz", timeout=10)
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "cache": "unavailable"}}
    assert httpx.get(base + "/healthz").status_code == 200
    started = time.monotonic()
    outage_then_recovery(redis, base)
    assert time.monotonic() - started < 5
    assert_no_tracebacks(server.stop())


# --- sign-in fails closed ---------------------------------------------------------------------------


def test_sign_in_fails_closed_while_redis_is_down(env, server, redis, app, alice):
    base = server.base
    with httpx.Client(base_url=base, timeout=10) as browser, httpx.Client(base_url=base, timeout=10) as other:
        _, challenge = pkce_pair()
        login_page = follow(browser, authorize(browser, authorize_params(app, challenge)))
        assert login_page.status_code == 200
        # Lock the account first: 5 wrong passwords.
        for _ in range(5):
            assert submit(browser, login_page, username="alice", password="wrong password " * 2).status_code == 400
        locked = submit(browser, login_page, username="alice", password=PASSWORD)
        assert locked.status_code == 400, "the lock holds while Redis is up"

        redis.kill()
        # The right password for the locked account: 503, no session, no redirect onwards.
        refused = submit(browser, login_page, username="alice", password=PASSWORD)
        assert_unavailable_page(refused)
        assert "as_session" not in refused.headers.get("set-cookie", "")
        assert "location" not in refused.headers
        # A new sign-in cannot start either (the pending sign-in lives in Redis).
        _, other_challenge = pkce_pair()
        assert_unavailable_page(authorize(other, authorize_params(app, other_challenge)))
        assert sessions_of(env, alice["id"]) == 0

        outage_then_recovery(redis, base)
        # The empty Redis forgot the pending sign-in: the old form is expired, not signed in.
        stale = submit(browser, login_page, username="alice", password=PASSWORD)
        assert stale.status_code in (400, 410), stale.text
        assert "as_session" not in stale.headers.get("set-cookie", "")
        assert sessions_of(env, alice["id"]) == 0
    assert_no_tracebacks(server.stop())


def test_sign_in_recovers_without_restart(server, redis, app):
    base = server.base
    redis.kill()
    with httpx.Client(base_url=base, timeout=10) as browser:
        _, challenge = pkce_pair()
        assert_unavailable_page(authorize(browser, authorize_params(app, challenge)))
        outage_then_recovery(redis, base)
        callback, verifier, _ = sign_in(browser, app)
        tokens = exchange(browser, app, callback["code"], verifier)
        assert tokens.status_code == 200, tokens.text
    assert_no_tracebacks(server.stop())


# --- token endpoints ---------------------------------------------------------------------------------


def test_token_introspection_and_revocation_fail_closed_while_redis_is_down(server, redis, service, api, jwt_service):
    base = server.base
    revoked = client_credentials(base, service).json()["access_token"]
    live = client_credentials(base, service).json()["access_token"]
    assert revoke(base, service, revoked).status_code == 200
    assert introspect(base, api, revoked).json() == {"active": False}

    redis.kill()
    # The denylist cannot be read: never "active: true" for the revoked token -- nor for any other.
    for token in (revoked, live, revoked):
        assert_unavailable_json(introspect(base, api, token))
    # A revocation that cannot be recorded is not acknowledged (the client knows to retry).
    assert_unavailable_json(revoke(base, service, live))
    # Client credentials with a client secret need only the database, but every /token request is
    # first counted by the rate limiter (authserver/ratelimit.py): a process may finish the share of the
    # limit it leased before the outage (at most 1% of it), then it fails closed: 503 from then on.
    for _ in range(500):
        if client_credentials(base, service).status_code == 503:
            break
    for _ in range(3):
        assert_unavailable_json(client_credentials(base, service))
    # private_key_jwt: the single-use check on the assertion's jti cannot be made either.
    jwt_client, key = jwt_service
    assert_unavailable_json(assertion_token(base, assertion(jwt_client["client_id"], key, base + "/token")))

    outage_then_recovery(redis, base)
    assert introspect(base, api, live).json()["active"] is True  # the failed revocation did not happen
    assert client_credentials(base, service).status_code == 200
    assert revoke(base, service, live).status_code == 200
    assert introspect(base, api, live).json() == {"active": False}
    assert_no_tracebacks(server.stop())


def test_introspection_fails_closed_while_redis_does_not_answer_and_recovers(server, redis, service, api):
    """A Redis that hangs (SIGSTOP) rather than going away: the event loop's read of the revocation
    entries gives up after its timeout (2 s), a 503, and the connection is used again once Redis answers."""
    base = server.base
    token = client_credentials(base, service).json()["access_token"]
    for _ in range(3):
        assert introspect(base, api, token).json()["active"] is True
    assert redis.proc is not None
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert_unavailable_json(introspect(base, api, token))
        assert time.monotonic() - started < 8
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + RECOVERY_SECONDS
    while introspect(base, api, token).status_code != 200:
        assert time.monotonic() < deadline, "introspection did not recover after Redis answered again"
        time.sleep(0.2)
    assert revoke(base, service, token).status_code == 200
    assert introspect(base, api, token).json() == {"active": False}
    assert_no_tracebacks(server.stop())


def test_a_redis_with_a_password_and_a_database_number(env, tmp_path, service, api):
    """The event loop's own connection (cache/pipeline.py) authenticates and selects the URL's database
    like redis-py's clients: introspections read there, revocations are seen."""
    workdir = tmp_path / "redis-auth"
    workdir.mkdir()
    protected = RedisProcess(workdir, password="s3cret-pass", db=5)
    protected.start()
    srv = LoggedServer(env, tmp_path, AUTHSERVER_REDIS_URL=protected.url)
    try:
        token = client_credentials(srv.base, service).json()["access_token"]
        for _ in range(3):
            assert introspect(srv.base, api, token).json()["active"] is True
        readers = [c for c in protected.clients() if c["cmd"] == "mget"]
        assert readers and all(c["db"] == "5" for c in readers), readers
        assert revoke(srv.base, service, token).status_code == 200
        assert introspect(srv.base, api, token).json() == {"active": False}
        assert_no_tracebacks(srv.stop())
    finally:
        srv.stop()
        protected.kill()


# --- the device grant -------------------------------------------------------------------------------


def test_device_pages_and_polling_fail_closed_while_redis_is_down(server, redis, tv):
    base = server.base
    started = httpx.post(base + "/device_authorization", data={"client_id": tv["client_id"], "scope": "openid"})
    assert started.status_code == 200, started.text
    device = started.json()
    with httpx.Client(base_url=base, timeout=10) as phone:
        page = phone.get("/device")
        assert page.status_code == 200

        redis.kill()
        # The wrong-code counters cannot be read: no code is checked at all.
        assert_unavailable_page(submit(phone, page, user_code=device["user_code"]))
        assert_unavailable_page(submit(phone, page, user_code="BCDF-GHJK"))
        # New device codes are rate-limited per client in Redis; polling paces itself there too.
        assert_unavailable_json(httpx.post(base + "/device_authorization", data={"client_id": tv["client_id"]}))
        assert_unavailable_json(
            httpx.post(
                base + "/token",
                data={"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": tv["client_id"]},
            )
        )

        outage_then_recovery(redis, base)
        # The device code itself lives in the database: the user can still enter it.
        entered = submit(phone, phone.get("/device"), user_code=device["user_code"])
        assert entered.status_code == 303, entered.text
        assert entered.headers["location"].startswith("/login?interaction=")
        polled = httpx.post(
            base + "/token",
            data={"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": tv["client_id"]},
        )
        assert polled.status_code == 400 and polled.json()["error"] == "authorization_pending", polled.text
    assert_no_tracebacks(server.stop())


# --- what an EMPTY Redis after a restart forgets (documented, not hidden) ----------------------------


def test_revocations_survive_a_redis_wipe(server, redis, service, api, app):
    """Revoked access tokens and grants are denied in Redis and in the database. A Redis that comes
    back empty (no persistence, a flush, a failover to an empty replica) is reloaded from the
    database before its silence is trusted: no revoked token is active again."""
    base = server.base
    token = client_credentials(base, service).json()["access_token"]
    assert revoke(base, service, token).status_code == 200
    assert introspect(base, api, token).json() == {"active": False}

    with httpx.Client(base_url=base, timeout=10) as browser:
        callback, verifier, _ = sign_in(browser, app)
        user_tokens = exchange(browser, app, callback["code"], verifier).json()
    # Revoking the refresh token revokes its grant: the grant's access token is denied.
    assert revoke(base, app, user_tokens["refresh_token"]).status_code == 200
    assert introspect(base, app, user_tokens["access_token"]).json() == {"active": False}
    live = client_credentials(base, service).json()["access_token"]

    redis.kill()
    outage_then_recovery(redis, base)  # a new, empty Redis

    assert introspect(base, api, token).json() == {"active": False}
    assert introspect(base, app, user_tokens["access_token"]).json() == {"active": False}
    assert introspect(base, api, live).json()["active"] is True
    # The refresh token's revocation is in the database: it stays revoked.
    refreshed = httpx.post(
        base + "/token",
        data={"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]},
        headers=basic(app["client_id"], app["client_secret"]),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert_no_tracebacks(server.stop())


def test_lockouts_do_not_survive_a_redis_wipe_but_assertion_replay_guards_do_documented(
    server, redis, app, jwt_service
):
    """Login lockouts live only in Redis: an empty Redis unlocks locked accounts. The private_key_jwt
    `jti` replay guard is also in the database: a used assertion stays used."""
    base = server.base
    client, key = jwt_service
    used = assertion(client["client_id"], key, base + "/token")
    assert assertion_token(base, used).status_code == 200
    assert assertion_token(base, used).status_code == 401

    with httpx.Client(base_url=base, timeout=10) as browser:
        _, challenge = pkce_pair()
        login_page = follow(browser, authorize(browser, authorize_params(app, challenge)))
        for _ in range(5):
            submit(browser, login_page, username="alice", password="wrong password " * 2)
        assert submit(browser, login_page, username="alice", password=PASSWORD).status_code == 400  # locked

        redis.kill()
        outage_then_recovery(redis, base)

        # What happens today: the lock is gone, the right password signs in at once ...
        callback, verifier, _ = sign_in(browser, app)
        assert exchange(browser, app, callback["code"], verifier).status_code == 200
    # ... but the used assertion is still refused.
    assert assertion_token(base, used).status_code == 401
    assert_no_tracebacks(server.stop())
