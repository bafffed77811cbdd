"""The commands issue 10 and 15 added: `user set-password`, `client rotate-secret`, `client create --admin`,
`client registration-token`, `keys prune|retire` (and the `key` alias); help text on every option;
`authserver --help` without the server stack."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from authserver.cli import build_parser
from tests.cli.checks import assert_error, assert_usage_error
from tests.helpers import PASSWORD, basic, client_token

NEW_PASSWORD = "a different long passphrase 42"


# --- user set-password ------------------------------------------------------------------------


def _stored_hash(settings, user_id: str) -> str:
    from authserver.services import build_store

    store = build_store(settings)
    try:
        user = store.get_user(user_id)
        assert user is not None
        return user.password_hash
    finally:
        store.close()


def test_set_password_reads_stdin_and_the_new_password_verifies(cli, alice, settings):
    from authserver.security.passwords import Passwords

    before = _stored_hash(settings, alice["id"])
    result = cli("user", "set-password", "alice", "--json", stdin=NEW_PASSWORD + "\n")
    assert result.code == 0, result.err
    assert result.json() == {"id": alice["id"], "username": "alice", "password_set": True}
    after = _stored_hash(settings, alice["id"])
    assert after != before
    assert Passwords().verify(NEW_PASSWORD, after)[0]
    assert not Passwords().verify(PASSWORD, after)[0]
    events = cli("audit", "list", "--user", "alice", "--json").json()
    assert [e["event"] for e in events][-1] == "password.changed"
    assert events[-1]["data"]["by"] == "admin-cli"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("", "no password on standard input"), ("short\n", "at least 12"), ("alice@example.com\n", "username or email")],
)
def test_set_password_refuses_a_missing_or_weak_password_and_keeps_the_old(cli, alice, settings, stdin, message):
    before = _stored_hash(settings, alice["id"])
    err = assert_error(cli("user", "set-password", "alice", stdin=stdin), contains=message)
    assert stdin.strip() not in err or not stdin.strip()
    assert _stored_hash(settings, alice["id"]) == before


def test_set_password_for_an_unknown_user(cli):
    assert_error(cli("user", "set-password", "nobody", stdin=NEW_PASSWORD + "\n"), contains="no user")


def test_set_password_takes_no_password_argument(cli, alice):
    assert_usage_error(cli("user", "set-password", "alice", NEW_PASSWORD))


# --- client rotate-secret ---------------------------------------------------------------------


def test_rotate_secret_prints_a_new_secret_and_the_old_stops_working(cli, register, http):
    client = register()
    client_token(http, client)
    result = cli("client", "rotate-secret", client["client_id"], "--json")
    assert result.code == 0, result.err
    rotated = result.json()
    assert rotated["client_id"] == client["client_id"]
    assert rotated["client_secret"] and rotated["client_secret"] != client["client_secret"]
    old = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert old.status_code == 401
    client_token(http, {**client, "client_secret": rotated["client_secret"]})
    shown = cli("client", "show", client["client_id"], "--json").json()
    assert "client_secret" not in shown
    events = cli("audit", "list", "--json").json()
    assert any(e["event"] == "client.secret_rotated" and e["client_id"] == client["client_id"] for e in events)


def test_rotate_secret_text_warns_it_is_shown_once(cli, register):
    client = register()
    result = cli("client", "rotate-secret", client["client_id"])
    assert result.code == 0, result.err
    assert "client_secret" in result.out and "shown only now" in result.out


def test_rotate_secret_refuses_clients_without_a_secret_and_unknown_ones(cli):
    public = cli(
        "client", "create", "--name", "spa", "--public", "--redirect-uri", "https://app.example/cb", "--json"
    ).json()
    assert_error(cli("client", "rotate-secret", public["client_id"]), contains="no secret to rotate")
    assert_error(cli("client", "rotate-secret", "nope"), contains="no client")


# --- client create --admin --------------------------------------------------------------------


def test_admin_client_holds_the_admin_scopes_and_gets_them_by_client_credentials(register, http):
    admin = register("--admin", name="terraform")
    assert admin["admin"] is True
    assert admin["scope"].split() == ["admin:read", "admin:write"]
    assert admin["grant_types"] == ["client_credentials"]
    token = client_token(http, admin, scope="admin:read")
    assert token["scope"] == "admin:read"


@pytest.mark.parametrize("scope", ["admin:read", "admin:write", "api admin:write"])
def test_admin_scopes_are_granted_only_with_admin(cli, scope):
    err = assert_error(cli("client", "create", "--name", "x", "--scope", scope), contains="--admin")
    assert "admin:" in err
    assert cli("client", "list", "--json").json() == []


@pytest.mark.parametrize(
    "extra",
    [
        ["--public", "--redirect-uri", "https://app.example/cb"],
        ["--redirect-uri", "https://app.example/cb"],
        ["--grant-type", "client_credentials", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code"],
    ],
)
def test_admin_clients_use_only_client_credentials(cli, extra):
    assert_error(cli("client", "create", "--name", "x", "--admin", *extra), contains="--admin")
    assert cli("client", "list", "--json").json() == []


def test_other_clients_asking_for_an_admin_scope_get_invalid_scope(register, http):
    client = register("--scope", "api:read")
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "admin:read"},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_admin_flag_cannot_be_changed_by_update(cli, register):
    client = register()
    assert_usage_error(cli("client", "update", client["client_id"], "--admin"))


# --- client registration-token ----------------------------------------------------------------


def test_registration_token_json_prints_the_token(cli):
    result = cli("client", "registration-token", "--uses", "3", "--expires-in", "600", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert len(data["token"]) >= 40 and data["uses"] == 3 and data["expires_at"]
    text = cli("client", "registration-token")
    assert text.code == 0 and len(text.out.strip()) >= 40 and text.out.strip() != data["token"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--uses", "-1"], "--uses"),
        (["--expires-in", "-5"], "--expires-in"),
        (["--expires-in", "99999999999"], "--expires-in"),
    ],
)
def test_registration_token_refuses_bad_numbers(cli, args, option):
    assert_error(cli("client", "registration-token", *args), contains=option)


# --- keys prune | retire, and the `key` alias ---------------------------------------------------


def _keys(cli, group: str = "keys") -> list[dict]:
    result = cli(group, "list", "--json")
    assert result.code == 0, result.err
    return result.json()


def test_key_is_an_alias_of_keys(cli, http):
    assert _keys(cli, "key") == _keys(cli, "keys")


def test_prune_deletes_only_keys_no_longer_published(cli, http, monkeypatch):
    first = _keys(cli)[0]["kid"]
    assert cli("keys", "rotate").code == 0
    result = cli("keys", "prune", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"deleted": []}  # the first key still signs (the new one is pending)
    assert {k["kid"] for k in _keys(cli)} >= {first}


def test_retire_refuses_the_active_key_and_unpublishes_a_pending_one(cli, http):
    active = _keys(cli)[0]["kid"]
    assert_error(cli("keys", "retire", active), contains="active key")
    assert cli("keys", "rotate").code == 0
    pending = next(k["kid"] for k in _keys(cli) if k["state"] == "pending")
    result = cli("keys", "retire", pending, "--json")
    assert result.code == 0, result.err
    assert [k["kid"] for k in _keys(cli)] == [active]
    assert_error(cli("keys", "retire", pending), contains="no signing key")
    events = cli("audit", "list", "--json").json()
    assert any(e["event"] == "key.retired" and e["data"]["kid"] == pending for e in events)


# --- help -------------------------------------------------------------------------------------


def _parsers(parser: argparse.ArgumentParser, path: str = "authserver"):  # type: ignore[no-untyped-def]
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub is not parser:
                    yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_argument_has_help_and_a_singular_metavar():
    missing, plural = [], []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                continue
            if not action.help:
                missing.append(f"{path} {action.option_strings or action.dest}")
            takes_value = action.nargs != 0
            if takes_value and action.option_strings and action.choices is None:
                metavar = action.metavar or action.dest.upper()
                if metavar.endswith("S") and metavar not in ("ADDRESS", "SECONDS", "SCOPES"):
                    plural.append(f"{path} {action.option_strings[0]} {metavar}")
    assert missing == []
    assert plural == []


def test_help_shows_defaults():
    result = subprocess.run(
        [sys.executable, "-m", "authserver", "user", "list", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "(default: 1000)" in result.stdout
    serve = subprocess.run(
        [sys.executable, "-m", "authserver", "serve", "--help"], capture_output=True, text=True, check=False
    )
    assert "(default: 8000)" in serve.stdout and "(default: 127.0.0.1)" in serve.stdout


HEAVY = ("starlette", "sqlalchemy", "pydantic", "authlib", "joserfc", "uvicorn", "redis", "argon2")


@pytest.mark.parametrize(
    "argv", [["--help"], ["client", "create", "--help"], ["user", "--help"], ["keys", "--help"], ["serve", "--help"]]
)
def test_help_does_not_import_the_server_stack(argv):
    code = (
        "import sys\n"
        "from authserver.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "usage: authserver" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED []"
