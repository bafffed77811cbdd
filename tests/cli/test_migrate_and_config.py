"""`authserver migrate`, configuration errors, production refusals and `serve`'s pre-flight checks.

`serve` is run in-process with uvicorn.run replaced by a recorder: if a check that should refuse
lets it through, the test sees the recorded call instead of a server bound to a port.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.cli.checks import assert_error
from tests.helpers import basic

PG_URL = os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
UNREACHABLE_PG = "postgresql+psycopg://authserver@127.0.0.1:1/authserver"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def uvicorn_calls(monkeypatch) -> list[tuple[tuple, dict]]:
    """Replace the worker start-up (and the global logging set-up serve does just before it) with a recorder."""
    calls: list[tuple[tuple, dict]] = []

    def record(host, port, workers, log_level, forwarded_allow_ips="", drain=0, limits=None):  # type: ignore[no-untyped-def]
        calls.append(((), {"host": host, "port": port, "workers": workers, "log_level": log_level}))

    monkeypatch.setattr("authserver.workers.serve", record)
    monkeypatch.setattr("authserver.logs.configure_logging", lambda level: None)
    return calls


@pytest.fixture
def fresh_database_url(tmp_path: Path):
    """An empty database of the backend under test: a new SQLite file, or a new PostgreSQL database."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"authserver_fresh_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


# --- migrate -------------------------------------------------------------------------------------


def test_migrate_is_idempotent(cli):
    first = cli("migrate", "--json")
    assert first.code == 0, first.err
    data = first.json()
    assert set(data) == {"from", "to", "changed"}
    assert data["changed"] is False
    assert data["from"] == data["to"] and isinstance(data["to"], str) and data["to"]
    assert cli("migrate", "--json").json() == data
    text = cli("migrate")
    assert (text.code, text.err) == (0, "")
    assert text.out == f"database at revision {data['to']} (already up to date)\n"


def test_migrate_creates_the_schema_on_a_fresh_database(cli, monkeypatch, fresh_database_url):
    monkeypatch.setenv("AUTHSERVER_DATABASE_URL", fresh_database_url)
    assert not {"clients", "users", "signing_keys"} & table_names(fresh_database_url)
    result = cli("migrate", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["from"] is None and data["changed"] is True and data["to"]
    assert {"alembic_version", "clients", "users", "signing_keys"} <= table_names(fresh_database_url)
    again = cli("migrate", "--json").json()
    assert again == {"from": data["to"], "to": data["to"], "changed": False}
    # The new schema is usable at once.
    assert cli("client", "create", "--name", "svc").code == 0
    assert cli("keys", "rotate").code == 0
    assert len(cli("client", "list", "--json").json()) == 1


def test_migrate_text_on_a_fresh_database(cli, monkeypatch, fresh_database_url):
    monkeypatch.setenv("AUTHSERVER_DATABASE_URL", fresh_database_url)
    result = cli("migrate")
    assert result.code == 0, result.err
    assert re.fullmatch(r"database at revision \S+\n", result.out), result.out


def test_migrate_on_a_sqlite_file_that_does_not_exist_yet(cli, monkeypatch, tmp_path):
    path = tmp_path / "sub" / "new.db"
    path.parent.mkdir()
    monkeypatch.setenv("AUTHSERVER_DATABASE_URL", f"sqlite:///{path}")
    assert cli("migrate", "--json").json()["changed"] is True
    assert path.exists()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-directory-for-authserver-tests/sub/db.sqlite",
        UNREACHABLE_PG,
    ],
)
@pytest.mark.parametrize("command", [("migrate",), ("client", "list"), ("user", "list"), ("keys", "list")])
def test_unreachable_database_is_a_one_line_error(cli, monkeypatch, url, command):
    monkeypatch.setenv("AUTHSERVER_DATABASE_URL", url)
    assert_error(cli(*command), contains="AUTHSERVER_DATABASE_URL")


def test_unparsable_database_url_is_a_one_line_error(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_DATABASE_URL", "not a database url")
    assert_error(cli("migrate"))


# Regression (found by these tests, fixed in e1fa2be): on a database that was never migrated, admin
# commands do not say so: on SQLite the missing table is an OperationalError reported as 'database
# unavailable', and on PostgreSQL the ProgrammingError reaches the last guard in
# authserver/cli/__init__.py, whose 'unexpected ...: {exc}' message spans several lines ([SQL: ...],
# Background on this error ...). Check the revision like serve does (or map undefined-table errors), and
# print only the first line of unexpected errors
@pytest.mark.parametrize("command", [("client", "list"), ("user", "list"), ("keys", "list")])
def test_commands_on_an_unmigrated_database_say_to_migrate(cli, monkeypatch, fresh_database_url, command):
    monkeypatch.setenv("AUTHSERVER_DATABASE_URL", fresh_database_url)
    assert_error(cli(*command), contains="authserver migrate")


# --- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHSERVER_ENV", "staging"),
        ("AUTHSERVER_ISSUER", "ftp://x"),
        ("AUTHSERVER_ISSUER", "https://id.example/?tenant=1"),
        ("AUTHSERVER_ISSUER", "https://id.example/#top"),
        ("AUTHSERVER_ISSUER", "id.example"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "abc"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "0"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "86401"),
        ("AUTHSERVER_JWKS_MAX_AGE", "-1"),
        ("AUTHSERVER_LOG_LEVEL", "verbose"),
        ("AUTHSERVER_SIGNING_KEY_BITS", "1024"),
    ],
)
def test_invalid_setting_is_a_one_line_error_naming_it(cli, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    err = assert_error(cli("client", "list"), contains=name)
    assert "invalid configuration" in err


@pytest.mark.parametrize(
    "command",
    [
        ("migrate",),
        ("client", "list"),
        ("client", "create", "--name", "x"),
        ("user", "list"),
        ("keys", "list"),
        ("keys", "rotate"),
        ("serve",),
    ],
)
def test_every_command_reports_invalid_settings(cli, monkeypatch, uvicorn_calls, command):
    monkeypatch.setenv("AUTHSERVER_ENV", "staging")
    assert_error(cli(*command), contains="AUTHSERVER_ENV")
    assert uvicorn_calls == []


def test_several_invalid_settings_are_all_named(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_ENV", "staging")
    monkeypatch.setenv("AUTHSERVER_ACCESS_TOKEN_TTL", "abc")
    err = assert_error(cli("client", "list"))
    assert "AUTHSERVER_ENV" in err and "AUTHSERVER_ACCESS_TOKEN_TTL" in err


def test_help_needs_no_valid_configuration(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_ENV", "staging")
    result = cli("--help")
    assert result.code == 0
    assert result.out.startswith("usage: authserver")
    for command in ("serve", "migrate", "client", "user", "keys"):
        assert command in result.out


# --- production refusals -------------------------------------------------------------------------

SECURE: dict[str, str | None] = {
    "AUTHSERVER_ENV": "production",
    "AUTHSERVER_ISSUER": "https://id.example",
    "AUTHSERVER_SECRET_KEY": "s" * 48,
    "AUTHSERVER_DATABASE_URL": UNREACHABLE_PG,
    "AUTHSERVER_REDIS_URL": UNREACHABLE_REDIS,
    # Password reset (on by default) sends email.
    "AUTHSERVER_SMTP_URL": "smtps://mail.example:465",
    "AUTHSERVER_METRICS_TOKEN": "m" * 32,
    "AUTHSERVER_ARGON2_COST": None,  # the default, standard (the suite's environment sets the test cost)
}
ALL_NAMES = (
    "AUTHSERVER_ISSUER",
    "AUTHSERVER_SECRET_KEY",
    "AUTHSERVER_DATABASE_URL",
    "AUTHSERVER_REDIS_URL",
    "AUTHSERVER_SMTP_URL",
    "AUTHSERVER_METRICS_TOKEN",
    "AUTHSERVER_ARGON2_COST",
)


def _apply(monkeypatch, values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_production_names_every_insecure_setting(cli, monkeypatch, uvicorn_calls, tmp_path, env):
    db = tmp_path / "prod.db"
    _apply(
        monkeypatch,
        {
            "AUTHSERVER_ENV": "production",
            "AUTHSERVER_ISSUER": "http://id.example",
            "AUTHSERVER_SECRET_KEY": None,
            "AUTHSERVER_DATABASE_URL": f"sqlite:///{db}",
            "AUTHSERVER_REDIS_URL": None,
        },
    )
    err = assert_error(cli("serve"), contains="refusing to start in production")
    assert "AUTHSERVER_ISSUER must be an https:// URL" in err
    assert "AUTHSERVER_SECRET_KEY must be set" in err
    assert "AUTHSERVER_DATABASE_URL must not be SQLite" in err
    assert "AUTHSERVER_REDIS_URL must be set" in err
    assert "AUTHSERVER_SMTP_URL must be set" in err and "AUTHSERVER_PASSWORD_RESET" in err
    assert "AUTHSERVER_METRICS_TOKEN must be set" in err
    assert "AUTHSERVER_ARGON2_COST must be `standard`" in err  # the suite's environment has the test cost
    assert uvicorn_calls == []
    assert not db.exists()  # refused before touching the database
    # Production never invents a secret.
    assert not (Path(env["AUTHSERVER_KEYS_DIR"]) / "secret_key").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"AUTHSERVER_ISSUER": "http://id.example"}, "AUTHSERVER_ISSUER must be an https:// URL"),
        ({"AUTHSERVER_SECRET_KEY": None}, "AUTHSERVER_SECRET_KEY must be set"),
        ({"AUTHSERVER_SECRET_KEY": "x" * 20}, "AUTHSERVER_SECRET_KEY must be at least 32 characters"),
        ({"AUTHSERVER_SECRET_KEY": "x" * 31}, "AUTHSERVER_SECRET_KEY must be at least 32 characters"),
        ({"AUTHSERVER_DATABASE_URL": "sqlite:///prod.db"}, "AUTHSERVER_DATABASE_URL must not be SQLite"),
        ({"AUTHSERVER_DATABASE_URL": "sqlite://"}, "AUTHSERVER_DATABASE_URL must not be SQLite"),
        ({"AUTHSERVER_REDIS_URL": None}, "AUTHSERVER_REDIS_URL must be set"),
        ({"AUTHSERVER_SMTP_URL": None}, "AUTHSERVER_SMTP_URL must be set in production when a feature that sends"),
        ({"AUTHSERVER_METRICS_TOKEN": None}, "AUTHSERVER_METRICS_TOKEN must be set in production"),
        ({"AUTHSERVER_METRICS_TOKEN": ""}, "AUTHSERVER_METRICS_TOKEN must be set in production"),
        ({"AUTHSERVER_METRICS_TOKEN": "t" * 15}, "at least 16 characters"),
        ({"AUTHSERVER_ARGON2_COST": "test"}, "AUTHSERVER_ARGON2_COST must be `standard` in production"),
    ],
)
def test_production_refuses_each_insecure_setting_alone(cli, monkeypatch, uvicorn_calls, change, expected):
    _apply(monkeypatch, {**SECURE, **change})
    err = assert_error(cli("serve", "--port", "0"), contains="refusing to start in production")
    assert expected in err
    named = [n for n in ALL_NAMES if n in err]
    assert named == [next(iter(change))], err  # only the insecure one is named
    assert uvicorn_calls == []


def test_production_with_secure_settings_passes_the_checks(cli, monkeypatch, uvicorn_calls):
    # Every setting is acceptable, so serve goes on to the database, which is unreachable here.
    _apply(monkeypatch, SECURE)
    err = assert_error(cli("serve"), contains="database unavailable")
    assert "refusing" not in err
    assert uvicorn_calls == []


def test_production_without_smtp_passes_with_every_mail_feature_off(cli, monkeypatch, uvicorn_calls):
    _apply(monkeypatch, {**SECURE, "AUTHSERVER_SMTP_URL": None, "AUTHSERVER_PASSWORD_RESET": "false"})
    assert "refusing" not in assert_error(cli("serve"), contains="database unavailable")


def test_production_secret_of_exactly_32_characters_is_enough(cli, monkeypatch, uvicorn_calls):
    _apply(monkeypatch, {**SECURE, "AUTHSERVER_SECRET_KEY": "k" * 32})
    assert "refusing" not in assert_error(cli("serve"))


# --- serve pre-flight (development) ---------------------------------------------------------------


def test_serve_without_redis_refuses_several_workers(cli, monkeypatch, uvicorn_calls):
    monkeypatch.delenv("AUTHSERVER_REDIS_URL", raising=False)
    assert_error(cli("serve", "--workers", "2"), contains="AUTHSERVER_REDIS_URL")
    assert uvicorn_calls == []


def test_serve_with_redis_allows_several_workers(cli, monkeypatch, uvicorn_calls):
    monkeypatch.setenv("AUTHSERVER_REDIS_URL", os.environ.get("AUTHSERVER_TEST_REDIS_URL") or UNREACHABLE_REDIS)
    assert cli("keys", "list", "--json").json() == []
    result = cli("serve", "--workers", "2", "--host", "0.0.0.0", "--port", "8123")
    assert result.code == 0, result.err
    assert len(uvicorn_calls) == 1
    _args, kwargs = uvicorn_calls[0]
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("0.0.0.0", 8123, 2)
    # The first key is made once, before the workers start.
    assert [k["state"] for k in cli("keys", "list", "--json").json()] == ["active"]


def test_serve_in_development_prints_the_issuer(cli, uvicorn_calls):
    result = cli("serve")
    assert result.code == 0, result.err
    assert "authserver: issuer http://testserver" in result.out
    assert "http://testserver/.well-known/openid-configuration" in result.out
    assert uvicorn_calls[0][1]["workers"] == 1
    assert (uvicorn_calls[0][1]["host"], uvicorn_calls[0][1]["port"]) == ("127.0.0.1", 8000)
    # A second start keeps the existing key.
    kid = cli("keys", "list", "--json").json()[0]["kid"]
    assert cli("serve").code == 0
    assert [k["kid"] for k in cli("keys", "list", "--json").json()] == [kid]


def test_serve_refuses_an_unmigrated_database(cli, monkeypatch, uvicorn_calls, fresh_database_url):
    monkeypatch.setenv("AUTHSERVER_DATABASE_URL", fresh_database_url)
    assert_error(cli("serve"), contains="authserver migrate")
    assert uvicorn_calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "0"), "--workers"),
        (("--workers", "65"), "--workers"),
        (("--port", "65536"), "--port"),
        (("--port", "-1"), "--port"),
    ],
)
def test_serve_refuses_bad_numbers(cli, uvicorn_calls, args, message):
    assert_error(cli("serve", *args), contains=message)
    assert uvicorn_calls == []


@pytest.mark.parametrize("args", [("--port", "http"), ("--workers", "two"), ("--bind", "x")])
def test_serve_usage_errors(cli, uvicorn_calls, args):
    result = cli("serve", *args)
    assert result.code == 2
    assert result.err.count("\n") == 1 and re.match(r"^authserver( serve)?: error: ", result.err), result.err
    assert "Traceback" not in result.err
    assert uvicorn_calls == []


# --- development secret ---------------------------------------------------------------------------


def test_development_creates_a_private_secret_once_and_reuses_it(cli, make_app, monkeypatch, env):
    monkeypatch.delenv("AUTHSERVER_SECRET_KEY")
    path = Path(env["AUTHSERVER_KEYS_DIR"]) / "secret_key"
    assert not path.exists()
    first = cli("client", "create", "--name", "one", "--json")
    assert first.code == 0, first.err
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 32
    assert secret not in first.out and secret not in first.err

    assert cli("client", "list").code == 0
    assert cli("keys", "rotate").code == 0
    second = cli("client", "create", "--name", "two", "--json")
    assert second.code == 0
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # The clients' secrets were hashed, and the keys sealed, under that file's secret.
    http = make_app(secret_key=secret)
    for client in (first.json(), second.json()):
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client["client_id"], client["client_secret"]),
        )
        assert response.status_code == 200, response.text


def test_development_secret_file_is_created_by_any_command(cli, monkeypatch, env):
    monkeypatch.delenv("AUTHSERVER_SECRET_KEY")
    path = Path(env["AUTHSERVER_KEYS_DIR"]) / "secret_key"
    assert cli("migrate").code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cli("user", "list").code == 0
    assert len(list(path.parent.iterdir())) == 1


def test_an_existing_development_secret_file_is_used(cli, make_app, monkeypatch, env):
    monkeypatch.delenv("AUTHSERVER_SECRET_KEY")
    keys_dir = Path(env["AUTHSERVER_KEYS_DIR"])
    keys_dir.mkdir()
    chosen = "pre-provisioned-development-secret-0123456789"
    (keys_dir / "secret_key").write_text(chosen + "\n")
    client = cli("client", "create", "--name", "svc", "--json").json()
    assert (keys_dir / "secret_key").read_text() == chosen + "\n"
    http = make_app(secret_key=chosen)
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text


def test_an_explicit_secret_means_no_secret_file(cli, env):
    assert cli("client", "list").code == 0
    assert not (Path(env["AUTHSERVER_KEYS_DIR"]) / "secret_key").exists()


def test_empty_secret_is_not_used_as_a_key(cli, monkeypatch, env):
    # An empty AUTHSERVER_SECRET_KEY (e.g. `AUTHSERVER_SECRET_KEY=$UNSET_VAR`) must either be
    # treated as unset (development makes its own secret) or refused; never used as the HMAC/AES key.
    monkeypatch.setenv("AUTHSERVER_SECRET_KEY", "")
    result = cli("client", "create", "--name", "svc")
    made_its_own = (Path(env["AUTHSERVER_KEYS_DIR"]) / "secret_key").exists()
    refused = result.code == 1 and "AUTHSERVER_SECRET_KEY" in result.err and result.err.count("\n") == 1
    assert made_its_own or refused, (result.code, result.err)


def test_production_admin_command_without_secret_is_a_one_line_error(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_ENV", "production")
    monkeypatch.delenv("AUTHSERVER_SECRET_KEY")
    assert_error(cli("client", "create", "--name", "svc"), contains="AUTHSERVER_SECRET_KEY")
    assert cli("client", "list", "--json").json() == []


def test_an_unexpected_multi_line_error_is_reported_on_one_line(cli, monkeypatch):
    def boom(client):  # type: ignore[no-untyped-def]
        raise RuntimeError("first line of the failure\nsecond line\n[SQL: SELECT 1]")

    cli("client", "create", "--name", "svc")
    monkeypatch.setattr("authserver.manage.clients.describe", boom)
    err = assert_error(cli("client", "list"), contains="first line of the failure")
    assert "second line" not in err and "RuntimeError" in err
