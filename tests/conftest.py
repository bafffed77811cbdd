"""Shared fixtures. Every test runs against the backend CI selects:

- default: a fresh SQLite file and the in-process cache;
- AUTHSERVER_TEST_DATABASE_URL / AUTHSERVER_TEST_REDIS_URL: a throw-away PostgreSQL database
  created for this run (and dropped after it), and Redis under a per-test key prefix.
The schema is created by `authserver migrate`, as in production.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authserver.app import create_app
from authserver.cli import main as cli_main
from authserver.settings import Settings
from tests.helpers import KeyPool, MovableClock

ISSUER = "http://testserver"
# The resource the `api` fixture serves: tokens for it carry aud API (clients register --resource API).
API = "https://api.example.com"
SECRET = "test-secret-key-that-is-long-enough-0123456789"
PG_URL = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("AUTHSERVER_TEST_REDIS_URL")


# The groups that take longest, handed out first (xdist gives groups to idle workers in the order their
# first test comes), so that no long group starts last and runs alone while the other workers wait.
LONGEST_FIRST = (
    "deployments",
    "browser/test_accessibility.py",
    "browser/test_pages.py",
    "fuzz/test_fuzz.py",
    "browser/test_passkeys.py",
    "browser/test_account_life.py",
    "http/test_upstream_signin.py",
    "http/test_upstream_authserver.py",
    "browser/test_upstream_signin.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`): one test file per group, so module fixtures (a browser) are
    built once; every test that starts a cluster of real server processes shares one group, so that at most
    one such deployment competes for this machine's cores at a time. The longest groups go first."""
    groups: dict[pytest.Item, str] = {}
    for item in items:
        path = item.path.relative_to(Path(__file__).parent).as_posix()
        group = "deployments" if path.startswith("ops/") or path == "test_serve.py" else path
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item] = group
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(groups[item], len(rank)))  # stable: file order otherwise


def pytest_report_header(config: pytest.Config) -> str:
    return f"authserver backends: database={'postgresql' if PG_URL else 'sqlite'} cache={'redis' if REDIS_URL else 'memory'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PG_URL:
        # In memory when the machine has a tmpfs: every commit's fsync on a disk costs the suite minutes.
        shm = Path("/dev/shm")  # noqa: S108  # mkdtemp below makes a private (0700), unique directory there
        if shm.is_dir() and os.access(shm, os.W_OK):
            directory = Path(tempfile.mkdtemp(prefix="authserver-test-", dir=shm))
            try:
                yield f"sqlite:///{directory / 'authserver.db'}"
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        else:
            yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'authserver.db'}"
        return
    name = f"authserver_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    from authserver.store.sql import migrate

    migrate.upgrade(database_url)
    return database_url


@pytest.fixture
def base_env(migrated: str, tmp_path: Path) -> dict[str, str]:
    env = {
        "AUTHSERVER_ENV": "development",
        "AUTHSERVER_ISSUER": ISSUER,
        "AUTHSERVER_DATABASE_URL": migrated,
        "AUTHSERVER_SECRET_KEY": SECRET,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "AUTHSERVER_CACHE_PREFIX": f"authserver-test:{uuid.uuid4().hex}:",
        "AUTHSERVER_CLIENT_CACHE_SECONDS": "0",
        "AUTHSERVER_KEY_REFRESH_SECONDS": "0",
        "AUTHSERVER_REVOCATION_SYNC_SECONDS": "0",
        # Tests sign in many times a minute from one address; tests of the limits set their own.
        "AUTHSERVER_RATE_LIMIT_LOGIN_IP": "100000/minute",
        "AUTHSERVER_RATE_LIMIT_LOGIN_ACCOUNT": "100000/minute",
        "AUTHSERVER_RATE_LIMIT_DEVICE_ENTRY_IP": "100000/minute",
        # One test address sends all traffic (ops tests run thousands of token requests a minute).
        "AUTHSERVER_RATE_LIMIT_TOKEN_IP": "20000/minute",
        # argon2id at its cheapest (production refuses it): the suite hashes and verifies passwords a few
        # thousand times, at ~0.3 CPU-seconds each with the standard profile. tests/http/test_password_hashing.py
        # covers the standard profile (the parameters stored, a rehash when they change).
        "AUTHSERVER_ARGON2_COST": "test",
    }
    if REDIS_URL:
        env["AUTHSERVER_REDIS_URL"] = REDIS_URL
    return env


@pytest.fixture
def env(base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The AUTHSERVER_* environment the CLI and the app both read; tables emptied afterwards."""
    for key in list(os.environ):
        if key.startswith("AUTHSERVER_"):
            monkeypatch.delenv(key)
    for key, value in base_env.items():
        monkeypatch.setenv(key, value)
    yield base_env
    _empty_tables(base_env["AUTHSERVER_DATABASE_URL"])


def _empty_tables(url: str) -> None:
    from authserver.store.sql.tables import metadata

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings()


@pytest.fixture
def clock() -> MovableClock:
    """The clock of every app this test builds (real time until the test moves it)."""
    return MovableClock()


@pytest.fixture
def make_app(env: dict[str, str], clock: MovableClock):  # type: ignore[no-untyped-def]
    """Build a TestClient for an app with extra AUTHSERVER_* settings; closed after the test."""
    opened: list[TestClient] = []
    keys = KeyPool()

    def factory(*, raise_server_exceptions: bool = True, **overrides: object) -> TestClient:
        app = create_app(Settings(**overrides), clock=clock, key_generator=keys)  # type: ignore[arg-type]
        client = TestClient(app, base_url=ISSUER, raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        opened.append(client)
        return client

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def http(make_app) -> TestClient:  # type: ignore[no-untyped-def]
    return make_app()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.out)


@pytest.fixture
def cli(env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, clock: MovableClock):  # type: ignore[no-untyped-def]
    """Run `authserver ARGS` in-process, as the console script does, on the test's clock (the apps' one)."""

    def run(*args: str, stdin: str = "") -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = cli_main(list(args), clock=clock)
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def register(cli):  # type: ignore[no-untyped-def]
    """Register a client through the CLI and return its JSON description (with the secret)."""

    def create(*args: str, name: str = "svc") -> dict:
        result = cli("client", "create", "--name", name, "--json", *args)
        assert result.code == 0, result.err
        return result.json()

    return create


@pytest.fixture
def alice(cli) -> dict:  # type: ignore[no-untyped-def]
    """A user alice / alice@example.com (name Alice) whose password is tests.helpers.PASSWORD."""
    from tests.helpers import PASSWORD

    result = cli(
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--name",
        "Alice",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert result.code == 0, result.err
    return result.json()


@pytest.fixture
def app(register, alice) -> dict:  # type: ignore[no-untyped-def]
    """A third-party web app (confidential, consent screen, refresh tokens) named Photo App; alice exists."""
    from tests.pages import SIGN_IN_CLIENT

    return register(*SIGN_IN_CLIENT, name="Photo App")


@pytest.fixture
def api(register) -> dict:  # type: ignore[no-untyped-def]
    """A resource server (a confidential client) that introspects the tokens minted for it (aud API)."""
    return register("--introspect", API, name="api")


@pytest.fixture
def mailbox() -> Iterator:
    """A running SMTP server (aiosmtpd) on a free port; `mailbox.url` is its AUTHSERVER_SMTP_URL."""
    from tests.mailbox import Mailbox

    box = Mailbox().start()
    yield box
    box.stop()
