"""`authserver user create|list|show|disable|enable`, through the CLI's public surface.

The password is read from standard input only; its hash never appears in any output.
"""

from __future__ import annotations

import re

import pytest

from authserver.security.passwords import Passwords
from authserver.store.sql import SqlStore
from tests.cli.checks import assert_error, assert_usage_error

PASSWORD = "correct horse battery staple"
HASH_MARKERS = ("$argon2", "argon2id", "password_hash", "password")


def assert_no_secret(out: str, password: str = PASSWORD) -> None:
    for marker in HASH_MARKERS:
        assert marker not in out, out
    assert password not in out


@pytest.fixture
def create(cli):
    def run(username="alice", email="alice@example.com", *extra, password=PASSWORD, stdin=None):
        return cli(
            "user",
            "create",
            f"--username={username}",
            f"--email={email}",
            "--password-stdin",
            *extra,
            stdin=(password + "\n") if stdin is None else stdin,
        )

    return run


@pytest.fixture
def stored(env):
    """Read a user back from the database the CLI wrote (to check what was hashed)."""
    store = SqlStore.from_url(env["AUTHSERVER_DATABASE_URL"])
    yield store.find_user
    store.close()


# --- create ------------------------------------------------------------------------------------


def test_create_json(create):
    result = create("Alice", "Alice@Example.COM", "--name", "Alice Liddell", "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    data = result.json()
    assert set(data) == {"id", "username", "email", "name", "email_verified", "disabled", "created_at"}
    assert re.fullmatch(r"[0-9a-f-]{36}", data["id"])
    assert data["username"] == "alice"  # stored lower-cased
    assert data["email"] == "alice@example.com"
    assert data["name"] == "Alice Liddell"
    assert data["email_verified"] is False and data["disabled"] is False
    assert_no_secret(result.out)


def test_create_text_and_email_verified(create, cli):
    result = create("bob", "bob@example.com", "--email-verified")
    assert result.code == 0, result.err
    user = cli("user", "show", "bob", "--json").json()
    assert result.out == f"created user bob ({user['id']})\n"
    assert user["email_verified"] is True
    assert user["name"] == ""
    assert_no_secret(result.out)


def test_password_is_the_first_stdin_line_without_its_line_ending(create, stored):
    assert create(stdin=PASSWORD + "\r\nsecond line ignored\n").code == 0
    user = stored("alice")
    assert user.password_hash.startswith("$argon2id$")
    assert Passwords().verify(PASSWORD, user.password_hash)[0] is True
    assert Passwords().verify(PASSWORD + "\r", user.password_hash)[0] is False
    assert Passwords().verify("second line ignored", user.password_hash)[0] is False


def test_password_without_trailing_newline_and_with_spaces_is_kept_verbatim(create, stored):
    password = "  spaces inside and around  "
    assert create(stdin=password).code == 0
    assert Passwords().verify(password, stored("alice").password_hash)[0] is True


@pytest.mark.parametrize("length", [12, 128])
def test_password_length_bounds_are_accepted(create, length):
    # Unpredictable enough for the guessability check, exactly at each bound.
    import random
    import string

    rng = random.Random(length)
    password = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))
    assert create(password=password).code == 0


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "qwertyuiopasdf",
        "iloveyou1234",
        "123456789012",
        "aaaaaaaaaaaa",
        "alicealice2024",
    ],
)
def test_common_or_guessable_passwords_are_refused(create, password):
    result = create(password=password)
    assert result.code == 1
    assert "too common" in result.err or "too easy to guess" in result.err


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("p" * 11, "at least 12"),
        ("", "no password"),
        ("p" * 129, "at most 128"),
        ("alice.wonderland", "username or email"),
        ("ALICE.Wonderland", "username or email"),
        ("alice@example.com", "username or email"),
        ("Alice@Example.Com", "username or email"),
    ],
)
def test_password_policy(create, cli, password, message):
    result = create("alice.wonderland", "alice@example.com", password=password)
    err = assert_error(result, contains=message)
    if password:
        assert password not in err
    assert cli("user", "list", "--json").json() == []


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n", "\n" + PASSWORD + "\n"])
def test_empty_stdin_is_refused(create, cli, stdin):
    assert_error(create(stdin=stdin), contains="no password on standard input")
    assert cli("user", "list", "--json").json() == []


def test_password_stdin_flag_is_required(cli):
    result = cli("user", "create", "--username", "alice", "--email", "alice@example.com", stdin=PASSWORD + "\n")
    assert_usage_error(result, contains="--password-stdin")
    assert cli("user", "list", "--json").json() == []


def test_password_cannot_be_given_as_an_argument(cli):
    # (argparse echoes the stray value in its message; the password was on the command line anyway.)
    result = cli("user", "create", "--username", "alice", "--email", "alice@example.com", "--password", PASSWORD)
    assert_usage_error(result)
    assert cli("user", "list", "--json").json() == []


@pytest.mark.parametrize("missing", ["--username", "--email"])
def test_username_and_email_are_required(cli, missing):
    args = {"--username": "alice", "--email": "alice@example.com"}
    del args[missing]
    flat = [x for pair in args.items() for x in pair]
    assert_usage_error(cli("user", "create", *flat, "--password-stdin", stdin=PASSWORD + "\n"), contains=missing)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("alice", "alice@example.com"), ("alice", "other@example.com")),
        (("alice", "alice@example.com"), ("ALICE", "other@example.com")),
        (("alice", "alice@example.com"), ("bob", "alice@example.com")),
        (("alice", "alice@example.com"), ("bob", "ALICE@Example.Com")),
        (("Alice", "Alice@Example.com"), ("aLiCe", "x@example.com")),
    ],
)
def test_duplicates_are_refused_case_insensitively(create, cli, first, second):
    assert create(*first).code == 0
    assert_error(create(*second), contains="already taken")
    assert len(cli("user", "list", "--json").json()) == 1


@pytest.mark.parametrize(
    "username",
    [
        "",
        "-alice",
        ".alice",
        "_alice",
        "al ice",
        "al@ice",
        "alic\u00e9",
        "a/b",
        "a" * 151,
        "\nalice",
    ],
)
def test_bad_usernames_are_refused(create, username):
    assert_error(create(username, "alice@example.com"), contains="--username")


# Regression (found by these tests, fixed in e1fa2be): authserver/cli/users.py _USERNAME/_EMAIL use
# `^...$` with .match(); `$` also matches before a trailing newline, so 'alice\n' / 'alice@example.com\n'
# pass validation and are stored as distinct users beside 'alice'. Use re.fullmatch (or \Z)
@pytest.mark.parametrize(
    ("username", "email"),
    [
        ("alice\n", "other@example.com"),
        ("other", "alice@example.com\n"),
    ],
)
def test_trailing_newline_is_not_a_valid_username_or_email(create, cli, username, email):
    assert create("alice", "alice@example.com").code == 0
    result = create(username, email)
    assert result.code == 1, result.out
    assert len(cli("user", "list", "--json").json()) == 1


def test_longest_username_is_accepted(create):
    assert create("a" * 150).code == 0


@pytest.mark.parametrize(
    "email",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "a b@example.com",
        "alice@exa mple.com",
        "a@b@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 320 + ".com",
    ],
)
def test_bad_emails_are_refused(create, email):
    assert_error(create("alice", email), contains="--email")


def test_long_name_is_refused(create):
    assert_error(create("alice", "alice@example.com", "--name", "n" * 201), contains="--name")
    assert create("alice", "alice@example.com", "--name", "n" * 200).code == 0


# --- list / show / disable / enable --------------------------------------------------------------


def test_list_when_empty(cli):
    text = cli("user", "list")
    assert (text.code, text.out, text.err) == (0, "no users\n", "")
    assert cli("user", "list", "--json").json() == []


def test_list(create, cli):
    assert create("alice", "alice@example.com", "--name", "Alice").code == 0
    assert create("bob", "bob@example.com").code == 0
    rows = cli("user", "list", "--json").json()
    assert sorted(r["username"] for r in rows) == ["alice", "bob"]
    for row in rows:
        assert set(row) == {"id", "username", "email", "name", "email_verified", "disabled", "created_at"}
    text = cli("user", "list")
    assert text.code == 0
    assert "alice@example.com" in text.out and "bob@example.com" in text.out
    assert "\n\n" in text.out
    assert_no_secret(text.out)
    assert_no_secret(cli("user", "list", "--json").out)


def test_show_by_id_username_or_email(create, cli):
    data = create("alice", "alice@example.com", "--json").json()
    for ref in (data["id"], "alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"):
        result = cli("user", "show", ref, "--json")
        assert result.code == 0, (ref, result.err)
        assert result.json() == data
        assert_no_secret(result.out)
    text = cli("user", "show", "alice")
    assert text.code == 0
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.out.splitlines())
    assert fields["id"] == data["id"] and fields["email"] == "alice@example.com"
    assert fields["name"] == "-" and fields["disabled"] == "False"
    assert_no_secret(text.out)


@pytest.mark.parametrize("action", ["show", "disable", "enable"])
def test_unknown_user_is_a_one_line_error(create, cli, action):
    assert create().code == 0
    for ref in (
        "nobody",
        "nobody@example.com",
        "00000000-0000-0000-0000-000000000000",
        "x" * 400,
        "it's\nme",
        "",
        "alice@example.org",
    ):
        assert_error(cli("user", action, ref), contains="no user")
        assert_error(cli("user", action, ref, "--json"), contains="no user")
    assert cli("user", "show", "alice", "--json").json()["disabled"] is False


def test_disable_and_enable(create, cli):
    user = create("alice", "alice@example.com", "--json").json()
    result = cli("user", "disable", "alice")
    assert (result.code, result.out, result.err) == (0, "disabled alice\n", "")
    assert cli("user", "show", user["id"], "--json").json()["disabled"] is True
    # Idempotent; by email; JSON.
    again = cli("user", "disable", "ALICE@example.com", "--json")
    assert again.code == 0
    assert again.json() == {"id": user["id"], "username": "alice", "disabled": True, "grants_revoked": 0}
    assert cli("user", "show", "alice", "--json").json()["disabled"] is True
    enabled = cli("user", "enable", user["id"], "--json")
    assert enabled.code == 0
    assert enabled.json() == {"id": user["id"], "username": "alice", "disabled": False}
    assert cli("user", "show", "alice", "--json").json()["disabled"] is False
    text = cli("user", "enable", "alice")
    assert (text.code, text.out) == (0, "enabled alice\n")
    for out in (result.out, again.out, enabled.out, text.out):
        assert_no_secret(out)


def test_disabling_one_user_leaves_others_alone(create, cli):
    assert create("alice", "alice@example.com").code == 0
    assert create("bob", "bob@example.com").code == 0
    assert cli("user", "disable", "alice").code == 0
    by_name = {r["username"]: r["disabled"] for r in cli("user", "list", "--json").json()}
    assert by_name == {"alice": True, "bob": False}


def test_user_subcommand_usage_errors(cli):
    assert_usage_error(cli("user"))
    assert_usage_error(cli("user", "show"))
    assert_usage_error(cli("user", "frobnicate", "alice"))


def test_user_list_pages_in_creation_order(cli, clock):
    clock.freeze(1_800_000_000.0)  # the CLI's clock (cli_main(clock=...)): one second between creations
    for name in ("ann", "bob", "cat", "dan", "eve"):
        clock.advance(1)
        result = cli(
            "user",
            "create",
            "--username",
            name,
            "--email",
            f"{name}@example.com",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert result.code == 0, result.err
    first = cli("user", "list", "--limit", "2", "--json").json()
    assert [u["username"] for u in first] == ["ann", "bob"]
    second = cli("user", "list", "--limit", "2", "--after", first[-1]["id"], "--json").json()
    assert [u["username"] for u in second] == ["cat", "dan"]
    last = cli("user", "list", "--limit", "2", "--after", second[-1]["id"], "--json").json()
    assert [u["username"] for u in last] == ["eve"]
    assert cli("user", "list", "--after", last[-1]["id"], "--json").json() == []
    assert [u["username"] for u in cli("user", "list", "--json").json()] == ["ann", "bob", "cat", "dan", "eve"]
    assert_error(cli("user", "list", "--after", "no-such-user"), contains="--after")
    assert_error(cli("user", "list", "--limit", "0"), contains="--limit")
