"""Passwords at the standard argon2id profile (the rest of the suite runs at the cheapest, see conftest):
what is stored, and a rehash at the next sign-in when the parameters change (RFC 9106 §4, §7.4)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from authserver.store.sql import SqlStore
from tests.helpers import PASSWORD
from tests.pages import sign_in_to, start, walk

# RFC 9106 §4, second recommended option (argon2-cffi's default): 3 passes, 64 MiB, 4 lanes.
STANDARD = "$argon2id$v=19$m=65536,t=3,p=4$"
CHEAPEST = "$argon2id$v=19$m=8,t=1,p=1$"


@pytest.fixture
def stored_hash(env: dict[str, str]) -> Iterator[Callable[[str], str]]:
    store = SqlStore.from_url(env["AUTHSERVER_DATABASE_URL"])

    def read(username: str) -> str:
        user = store.find_user(username)
        if user is None or user.password_hash is None:
            raise LookupError(username)
        return user.password_hash

    yield read
    store.close()


def test_new_passwords_get_the_standard_profile(cli, monkeypatch, stored_hash):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AUTHSERVER_ARGON2_COST", "standard")
    created = cli(
        "user", "create", "--username", "bob", "--email", "bob@example.com", "--password-stdin", stdin=PASSWORD
    )
    assert created.code == 0, created.err
    assert stored_hash("bob").startswith(STANDARD)


def test_a_sign_in_rehashes_a_password_stored_with_other_parameters(make_app, app, stored_hash):  # type: ignore[no-untyped-def]
    assert stored_hash("alice").startswith(CHEAPEST)  # made by the CLI at the suite's cost
    http = make_app(argon2_cost="standard")
    sign_in_to(http, app)
    rehashed = stored_hash("alice")
    assert rehashed.startswith(STANDARD)

    # The new hash verifies the same password, and only it.
    again = make_app(argon2_cost="standard")
    sign_in_to(again, app)
    assert stored_hash("alice") == rehashed, "a hash with current parameters is kept"
    third = make_app(argon2_cost="standard")
    response, _, _ = start(third, app)
    final, _ = walk(third, response, username="alice", password=PASSWORD + "x")
    assert final.status_code == 400 and "Incorrect username or password" in final.text
    assert stored_hash("alice") == rehashed


def test_a_wrong_password_does_not_rehash(make_app, app, stored_hash):  # type: ignore[no-untyped-def]
    before = stored_hash("alice")
    http = make_app(argon2_cost="standard")
    response, _, _ = start(http, app)
    final, _ = walk(http, response, username="alice", password="not the password at all")
    assert final.status_code == 400 and "Incorrect username or password" in final.text
    assert stored_hash("alice") == before
