"""The installed `authserver` console script, run as a user would: a real process, from another directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from joserfc.jwk import KeySet, RSAKey

from authserver import __version__

SCRIPT = Path(sys.executable).with_name("authserver")
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason=f"no console script at {SCRIPT}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere"
    path.mkdir()
    return path


@pytest.fixture
def run(env, workdir):  # type: ignore[no-untyped-def]
    process_env = {**os.environ, **env}

    def call(
        *args: str, stdin: str = "", executable: list[str] | None = None, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*(executable or [str(SCRIPT)]), *args],
            cwd=workdir,
            env={**process_env, **(extra_env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return call


def assert_one_line(err: str) -> None:
    assert "Traceback" not in err
    assert err.count("\n") == 1, err


def test_help(run):
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: authserver")
    for command in ("serve", "migrate", "client", "user", "keys"):
        assert command in result.stdout
    assert result.stderr == ""


def test_version_through_python_dash_m(run):
    # `python -m authserver` is the same CLI as the console script (whose --help is tested above).
    result = run("--version", executable=[sys.executable, "-m", "authserver"])
    assert (result.returncode, result.stdout.strip()) == (0, f"authserver {__version__}")


def test_migrate_works_from_another_directory(run, workdir):
    result = run("migrate", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["changed"] is False and data["from"] == data["to"]
    assert result.stderr == ""
    # Nothing is written to the working directory (no stray database, keys or secret).
    assert list(workdir.iterdir()) == []


def test_migrate_creates_a_schema_from_another_directory(run, tmp_path):
    db = tmp_path / "fresh.db"
    result = run("migrate", "--json", extra_env={"AUTHSERVER_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["changed"] is True
    assert db.exists()


@pytest.mark.parametrize("args", [("frobnicate",), ("client", "create")])
def test_bad_arguments_exit_2_with_one_line(run, args):
    result = run(*args)
    assert result.returncode == 2
    assert_one_line(result.stderr)
    assert result.stderr.startswith("authserver") and ": error: " in result.stderr
    assert result.stdout == ""


def test_unknown_client_exits_1_with_one_line(run):
    result = run("client", "show", "nope")
    assert result.returncode == 1
    assert_one_line(result.stderr)
    assert result.stderr == "authserver: error: no client 'nope'\n"
    assert result.stdout == ""


def test_user_create_reads_the_password_from_a_pipe(run):
    created = run(
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--password-stdin",
        "--json",
        stdin="correct horse battery staple\n",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["username"] == "alice"
    assert "argon2" not in created.stdout and "correct horse" not in created.stdout


# Regression (found by these tests, fixed in e1fa2be): authserver/cli/clients.py _load_jwks lets
# joserfc's SecurityWarning for a weak (1024-bit) RSA key reach stderr (two extra lines) and accepts the
# key; check the key size and refuse it with one line, importing the set under warnings.catch_warnings()
def test_weak_jwks_key_gives_one_line_and_a_refusal(run, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weak = RSAKey.generate_key(1024)
    path = tmp_path / "weak.json"
    path.write_text(json.dumps(KeySet([weak]).as_dict(private=False)))
    result = run(
        "client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", str(path)
    )
    assert_one_line(result.stderr)
    assert result.returncode == 1
