"""Deleting an account (GDPR Art. 17): self-service on /account (sudo mode, typed confirmation) and
`authserver user delete`: sessions, tokens, factors and consents go, access tokens stop introspecting as
active, audit events keep a pseudonym, and the username and email can be registered again."""

from __future__ import annotations

import json
import time

import pytest

from tests.cli.checks import assert_error
from tests.emails import APP_MAIL
from tests.helpers import basic
from tests.mailbox import text_of
from tests.pages import (
    SIGN_IN_CLIENT,
    account_csrf,
    account_post,
    account_sign_in,
    alert,
    browser_from,
    create_user,
    enrol,
    reauthenticate,
    sign_in_to,
    tokens,
)


@pytest.fixture
def site(make_app, mailbox):  # type: ignore[no-untyped-def]
    return make_app(smtp_url=mailbox.url, **APP_MAIL)


@pytest.fixture
def client(register) -> dict:  # type: ignore[no-untyped-def]
    return register(*SIGN_IN_CLIENT, name="Example App")


def app_tokens(http, client: dict) -> dict:  # type: ignore[no-untyped-def]
    browser = browser_from(http, "10.7.0.1")
    callback, verifier, _ = sign_in_to(browser, client, scope="openid offline_access")
    return tokens(browser, client, callback, verifier)


def active(http, client: dict, token: str) -> bool:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
    )
    return response.json()["active"]


def audit(cli) -> list[dict]:  # type: ignore[no-untyped-def]
    return cli("audit", "list", "--json").json()


def test_self_service_deletion(site, cli, mailbox, alice, client):
    issued = app_tokens(site, client)
    assert active(site, client, issued["access_token"]) and active(site, client, issued["refresh_token"])
    elsewhere = browser_from(site, "10.7.0.2")
    account_sign_in(elsewhere)
    account_sign_in(site)
    authenticator, _ = enrol(site)  # a factor, to be deleted too
    assert reauthenticate(site, code=authenticator.code()).status_code == 303  # sudo mode with both factors

    page = site.get("/account")
    assert 'action="/account/delete"' in page.text
    for typed in ("", "bob", "Alic"):
        refused = account_post(site, "/account/delete", confirm=typed)
        assert refused.status_code == 400 and "type your username (alice)" in alert(refused)
    assert cli("user", "show", "alice").code == 0

    done = account_post(site, "/account/delete", confirm="Alice")
    assert done.status_code == 200 and "Your account is deleted" in done.text
    assert "as_session=" in done.headers["set-cookie"] and 'as_session=""' in done.headers["set-cookie"]
    assert_error(cli("user", "show", "alice"), contains="no user")
    assert not active(site, client, issued["access_token"])
    assert not active(site, client, issued["refresh_token"])
    refreshed = site.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    for browser in (site, elsewhere):
        assert browser.get("/account", follow_redirects=False).headers["location"].startswith("/login")

    events = audit(cli)
    assert all(e["user_id"] != alice["id"] for e in events)
    (deleted,) = [e for e in events if e["event"] == "user.deleted"]
    assert deleted["user_id"].startswith("deleted-") and len(deleted["user_id"]) == 36
    assert deleted["data"]["by"] == "user" and deleted["data"]["grants_revoked"] >= 1
    assert deleted["data"]["sessions_ended"] == 3  # the app sign-in, the other browser, this one
    assert sum(e["user_id"] == deleted["user_id"] for e in events) > 5, "the history is kept under the pseudonym"
    assert "alice@example.com" not in json.dumps(events)

    farewell = mailbox.last("alice@example.com")
    assert farewell["Subject"] == "Your account was deleted" and "alice" in text_of(farewell)

    again = create_user(cli, "alice", email="alice@example.com")
    assert again["id"] != alice["id"]
    export = json.loads(cli("user", "export", "alice").out)
    assert [e["event"] for e in export["audit_events"]] == [], "the new account inherits nothing"


def test_deletion_needs_sudo_mode_csrf_and_a_session(site, cli, alice, clock):
    anonymous = browser_from(site, "10.8.0.1")
    anonymous.get("/account")
    bounced = anonymous.post(
        "/account/delete",
        data={"csrf_token": anonymous.cookies.get("as_csrf"), "confirm": "alice"},
        follow_redirects=False,
    )
    assert bounced.status_code == 303 and bounced.headers["location"].startswith("/login")
    account_sign_in(site)
    assert site.post("/account/delete", data={"confirm": "alice"}, follow_redirects=False).status_code == 403
    csrf = account_csrf(site)
    clock.advance(301)
    stale = site.post("/account/delete", data={"csrf_token": csrf, "confirm": "alice"}, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/account/reauth")
    clock.advance(-301)
    assert cli("user", "show", "alice").code == 0


def test_cli_deletion(site, cli, mailbox, alice, client):
    issued = app_tokens(site, client)
    create_user(cli, "bob")
    result = cli("user", "delete", "alice@example.com", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["deleted"] == "alice" and data["pseudonym"].startswith("deleted-") and data["grants_revoked"] == 1
    assert not active(site, client, issued["access_token"])
    assert_error(cli("user", "show", "alice"), contains="no user")
    assert cli("user", "show", "bob").code == 0, "nobody else is touched"
    assert_error(cli("user", "delete", "alice"), contains="no user 'alice'")
    (deleted,) = [e for e in audit(cli) if e["event"] == "user.deleted"]
    assert deleted["data"]["by"] == "admin-cli" and deleted["user_id"] == data["pseudonym"]
    assert mailbox.last("alice@example.com")["Subject"] == "Your account was deleted"
    # The same account id always maps to the same pseudonym; another id to another.
    from authserver.manage.deletion import pseudonym
    from tests.conftest import SECRET

    assert pseudonym(SECRET.encode(), alice["id"]) == data["pseudonym"]
    assert pseudonym(SECRET.encode(), "another id") != data["pseudonym"]


def test_queued_mail_to_the_deleted_address_is_dropped(make_app, cli, alice):
    from tests.mailbox import Mailbox

    box = Mailbox()  # down: messages wait
    http = make_app(smtp_url=box.url, **APP_MAIL)
    page = http.get("/password/forgot")
    from tests.helpers import submit

    submit(http, page, email="alice@example.com")
    deadline = time.monotonic() + 30
    while not [m for m in cli("mail", "queue", "--json").json() if m["subject"] == "Reset your password"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert cli("user", "delete", "alice").code == 0
    waiting = cli("mail", "queue", "--json").json()
    assert [m["subject"] for m in waiting] == ["Your account was deleted"]
