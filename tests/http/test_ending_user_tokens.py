"""Account events end every token of the user: changing the password, "sign out everywhere else",
disabling the user and resetting their second factor revoke each refresh-token family (offline and
device ones included) and the access tokens issued under them. Re-enabling restores none of them;
another user's tokens are untouched."""

from __future__ import annotations

import itertools

import pytest

from tests.helpers import PASSWORD, basic, follow, submit
from tests.pages import SIGN_IN_CLIENT, account_post, account_sign_in, browser_from, create_user, sign_in_to, tokens

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OFFLINE = "openid profile offline_access"
NEW_PASSWORD = "violet elephant tangerine marmalade"


@pytest.fixture
def users(cli) -> dict:  # type: ignore[no-untyped-def]
    return {"alice": create_user(cli, "alice"), "bob": create_user(cli, "bob")}


@pytest.fixture
def app(register, users) -> dict:  # type: ignore[no-untyped-def]
    return register(*SIGN_IN_CLIENT, name="Photo App")


@pytest.fixture
def tv(register) -> dict:  # type: ignore[no-untyped-def]
    """A public device client that also refreshes, and one without refresh tokens."""
    return register("--public", "--grant-type", DEVICE_GRANT, "--grant-type", "refresh_token", name="TV")


@pytest.fixture
def box(register) -> dict:  # type: ignore[no-untyped-def]
    return register("--grant-type", DEVICE_GRANT, name="Box")


_hosts = itertools.count(1)


def _address() -> str:
    """A browser of its own: another address (each gets its own cookies and counters)."""
    return f"10.0.{next(_hosts) % 250}.{next(_hosts) % 250 + 1}"


def _auth(client: dict, data: dict) -> dict:
    if client.get("client_secret"):
        return basic(client["client_id"], client["client_secret"])
    data["client_id"] = client["client_id"]
    return {}


def offline_tokens(http, app: dict, username: str = "alice") -> dict:  # type: ignore[no-untyped-def]
    """Tokens an app got with offline_access, signed in from a browser of its own."""
    browser = browser_from(http, host=_address())
    callback, verifier, _ = sign_in_to(browser, app, username=username, scope=OFFLINE)
    return tokens(browser, app, callback, verifier)


def device_tokens(http, client: dict, username: str = "alice") -> dict:  # type: ignore[no-untyped-def]
    """The device flow, approved on a phone of its own."""
    data: dict = {}
    started = http.post("/device_authorization", data=data, headers=_auth(client, data))
    assert started.status_code == 200, started.text
    device = started.json()
    phone = browser_from(http, host=_address())
    entered = submit(phone, phone.get("/device"), user_code=device["user_code"])
    signed_in = submit(phone, follow(phone, entered), username=username, password=PASSWORD)
    confirm = follow(phone, signed_in)
    assert submit(phone, confirm, decision="allow").status_code == 200
    data = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"]}
    polled = http.post("/token", data=data, headers=_auth(client, data))
    assert polled.status_code == 200, polled.text
    return polled.json()


def introspect(http, client: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    """Introspected by the token's own client (public clients cannot introspect: the box stands in)."""
    response = http.post(
        "/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(http, client: dict, token: str):  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post("/token", data=data, headers=_auth(client, data))


def userinfo(http, token: str) -> int:  # type: ignore[no-untyped-def]
    return http.get("/userinfo", headers={"Authorization": "Bearer " + token}).status_code


class Holdings:
    """Every kind of token alice's apps and devices hold, and one of bob's."""

    def __init__(self, http, app: dict, tv: dict, box: dict) -> None:  # type: ignore[no-untyped-def]
        self.http, self.app, self.tv, self.box = http, app, tv, box
        self.offline = offline_tokens(http, app)
        self.device = device_tokens(http, tv)
        self.device_only = device_tokens(http, box)  # no refresh token: found through its device code
        self.bobs = offline_tokens(http, app, "bob")

    def assert_alive(self) -> None:
        assert introspect(self.http, self.app, self.offline["access_token"])["active"] is True
        assert introspect(self.http, self.app, self.offline["refresh_token"])["active"] is True
        assert introspect(self.http, self.box, self.device_only["access_token"])["active"] is True
        assert userinfo(self.http, self.device["access_token"]) == 200

    def assert_ended(self) -> None:
        http = self.http
        assert introspect(http, self.app, self.offline["access_token"]) == {"active": False}
        assert introspect(http, self.app, self.offline["refresh_token"]) == {"active": False}
        assert introspect(http, self.box, self.device_only["access_token"]) == {"active": False}
        for token in (self.offline["access_token"], self.device["access_token"], self.device_only["access_token"]):
            assert userinfo(http, token) == 401
        for client, held in ((self.app, self.offline), (self.tv, self.device)):
            response = refresh(http, client, held["refresh_token"])
            assert response.status_code == 400 and response.json()["error"] == "invalid_grant", response.text
        # Bob's tokens are his own business.
        assert introspect(http, self.app, self.bobs["access_token"])["active"] is True
        rotated = refresh(http, self.app, self.bobs["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        self.bobs = rotated.json()


@pytest.fixture
def held(http, app, tv, box) -> Holdings:  # type: ignore[no-untyped-def]
    holdings = Holdings(http, app, tv, box)
    holdings.assert_alive()
    return holdings


def test_changing_the_password_ends_every_token(http, held):
    account_sign_in(http)
    refused = account_post(
        http,
        "/account/password",
        current_password="not my password at all",
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert refused.status_code == 400
    held.assert_alive()  # a failed change ends nothing

    changed = account_post(
        http,
        "/account/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert changed.status_code == 303, changed.text
    held.assert_ended()


def test_signing_out_everywhere_ends_every_token(http, held):
    account_sign_in(http)
    assert "Sign out everywhere else" in http.get("/account").text  # the app's and the phones' sessions
    response = account_post(http, "/account/sessions/end-others")
    assert response.status_code == 303, response.text
    held.assert_ended()


def test_disabling_a_user_ends_every_token_and_enabling_restores_none(http, cli, held):
    result = cli("user", "disable", "alice", "--json")
    assert result.code == 0, result.err
    assert result.json()["grants_revoked"] >= 3
    held.assert_ended()
    assert cli("user", "enable", "alice").code == 0
    held.assert_ended()


def test_resetting_mfa_ends_every_token(http, cli, held):
    result = cli("user", "reset-mfa", "alice", "--json")
    assert result.code == 0, result.err
    assert result.json()["grants_revoked"] >= 3
    held.assert_ended()
    events = cli("audit", "list", "--user", "alice", "--json").json()
    reasons = {e["data"].get("reason") for e in events if e["event"] == "grant.revoked"}
    assert reasons == {"mfa_reset"}


def test_a_disabled_users_tokens_are_inactive_on_a_worker_that_has_not_synced_yet(make_app, register, users):
    """Introspection and /userinfo also look at the user: a worker whose in-process cache has not yet
    copied the CLI's revocations (REVOCATION_SYNC_SECONDS five minutes here) still answers inactive / 401."""
    http = make_app()
    app = register(*SIGN_IN_CLIENT, name="Photo App")
    held = offline_tokens(http, app)
    other_worker = make_app(revocation_sync_seconds=300)
    assert introspect(other_worker, app, held["access_token"])["active"] is True
    from authserver.cli import main

    assert main(["user", "disable", "alice"]) == 0
    assert introspect(other_worker, app, held["access_token"]) == {"active": False}
    assert userinfo(other_worker, held["access_token"]) == 401
    assert main(["user", "enable", "alice"]) == 0
    assert introspect(http, app, held["access_token"]) == {"active": False}
