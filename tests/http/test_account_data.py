"""The account's data for its owner: the sign-in history on /account, and the export (POST /account/export,
sudo mode; `authserver user export USER`) with everything held about the account and never a secret."""

from __future__ import annotations

import json
import re

from tests.cli.checks import assert_error
from tests.helpers import PASSWORD, submit
from tests.pages import (
    account_csrf,
    account_post,
    account_sign_in,
    browser_from,
    create_user,
    enrol,
    reauthenticate,
    sign_in_to,
)

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
SECRET_MARKERS = ("$argon2", "password_hash", "secret_enc", "token_hash", "id_hash", "code_hash", PASSWORD)


def rows(page) -> list[list[str]]:  # type: ignore[no-untyped-def]
    table = re.search(r'<table class="history">.*?<tbody>(.*?)</tbody>', page.text, re.DOTALL)
    if table is None:
        return []
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.DOTALL)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.DOTALL)
    ]


def try_password(http, password: str, *, ip: str, agent: str) -> None:  # type: ignore[no-untyped-def]
    browser = browser_from(http, ip)
    browser.headers["user-agent"] = agent
    page = browser.get(browser.get("/account", follow_redirects=False).headers["location"])
    submit(browser, page, username="alice", password=password)


def test_sign_in_history_on_the_account_page(http, alice):
    try_password(http, "not the right password", ip="10.0.0.7", agent=FIREFOX)
    try_password(http, PASSWORD, ip="10.0.0.8", agent=SAFARI)
    page = account_sign_in(http)
    history = rows(page)
    assert [r[1:] for r in history] == [
        ["testclient", "testclient", "Password", "Signed in"],
        ["10.0.0.8", "Safari on iOS", "Password", "Signed in"],
        ["10.0.0.7", "Firefox on Linux", "Password", "Wrong password"],
    ]
    # Written the language's way (Babel's CLDR format): "Dec 3, 2026, 2:05 PM UTC" in English.
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\W[AP]M UTC", history[0][0]), history[0][0]
    assert page.text.count('class="failed"') == 1


def test_history_shows_the_last_twenty_newest_first_and_the_second_factor(make_app, alice):
    http = make_app(login_account_max_failures=1000)
    for i in range(22):
        try_password(http, f"wrong password number {i}", ip=f"10.1.{i}.1", agent=FIREFOX)
    page = account_sign_in(http)
    history = rows(page)
    assert len(history) == 20
    assert history[0][4] == "Signed in" and history[1][1] == "10.1.21.1" and history[-1][1] == "10.1.3.1"
    authenticator, _ = enrol(http)
    other = browser_from(http, "10.2.0.1")
    account_sign_in(other, code=authenticator.code)
    assert rows(other.get("/account"))[0][3:] == ["Password and authenticator app", "Signed in"]


def test_no_history_of_other_accounts(http, cli, alice):
    create_user(cli, "bob")
    try_password(http, "wrong", ip="10.3.0.1", agent=FIREFOX)
    bob = browser_from(http, "10.3.0.2")
    page = account_sign_in(bob, username="bob")
    assert [r[4] for r in rows(page)] == ["Signed in"]


def test_export_is_a_json_download_without_secrets(http, cli, alice, register):
    client = register(
        "--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb", name="Example App"
    )
    sign_in_to(http, client)
    authenticator, _ = enrol(http)
    # With a second factor on, sudo mode needs it too.
    assert account_post(http, "/account/export").headers["location"].startswith("/account/reauth")
    assert reauthenticate(http, code=authenticator.code()).status_code == 303
    response = account_post(http, "/account/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == 'attachment; filename="account-alice.json"'
    assert "no-store" in response.headers["cache-control"]
    data = response.json()
    assert data["format"] == "authserver-account-export/1"
    assert data["profile"] | {"created_at": None} == {
        "id": alice["id"],
        "username": "alice",
        "email": "alice@example.com",
        "email_verified": False,
        "name": "Alice",
        "disabled": False,
        "created_at": None,
    }
    assert data["second_factors"]["authenticator_app"]["enabled"] is True
    assert data["second_factors"]["backup_codes_left"] == 10
    assert [c["client_name"] for c in data["consents"]] == ["Example App"]
    assert len(data["sessions"]) == 1 and data["sessions"][0]["methods"] == ["pwd"]
    assert data["sign_in_history"][0]["outcome"] == "Signed in"
    events = [e["event"] for e in data["audit_events"]]
    assert "login.succeeded" in events and "mfa.enrolled" in events and "consent.granted" in events
    body = response.text
    for marker in SECRET_MARKERS:
        assert marker not in body, marker
    assert authenticator.secret not in body
    assert [e["event"] for e in cli("audit", "list", "--json").json()].count("account.exported") == 1


def test_export_needs_recent_authentication_csrf_and_a_session(http, alice, clock):
    anonymous = browser_from(http, "10.4.0.1")
    anonymous.get("/account")
    no_session = anonymous.post(
        "/account/export", data={"csrf_token": anonymous.cookies.get("as_csrf")}, follow_redirects=False
    )
    assert no_session.status_code == 303 and no_session.headers["location"].startswith("/login")
    account_sign_in(http)
    assert http.post("/account/export", data={}, follow_redirects=False).status_code == 403
    csrf = account_csrf(http)
    clock.advance(301)
    stale = http.post("/account/export", data={"csrf_token": csrf}, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/account/reauth")


def test_cli_export(cli, alice):
    result = cli("user", "export", "alice@example.com")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["profile"]["id"] == alice["id"] and data["sessions"] == []
    for marker in SECRET_MARKERS:
        assert marker not in result.out
    assert_error(cli("user", "export", "nobody"), contains="no user 'nobody'")
    assert [e["data"].get("by") for e in cli("audit", "list", "--json").json() if e["event"] == "account.exported"] == [
        "admin-cli"
    ]
