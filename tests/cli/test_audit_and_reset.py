"""`authserver audit list` after the account-protection flows (which events, which fields, no secrets),
and `authserver user reset-mfa`."""

from __future__ import annotations

import json
import logging
import re

import pytest
import sqlalchemy as sa

from tests.cli.checks import assert_error
from tests.helpers import PASSWORD, exchange, follow, forms, query, submit
from tests.pages import (
    SIGN_IN_CLIENT,
    account_post,
    account_sign_in,
    browser_from,
    create_user,
    enrol,
    mfa_state,
    password_step,
    reauthenticate,
    sign_in_to,
    start,
    walk,
)

NEW_PASSWORD = "violet elephant tangerine marmalade"
WRONG = "not the right password"
UA = "Mozilla/5.0 (AuditTest; alice's laptop)"
REQUEST_EVENTS = (
    "login.succeeded",
    "mfa.enrolled",
    "mfa.used",
    "mfa.failed",
    "mfa.disabled",
    "backup_code.used",
    "password.changed",
    "session.revoked",
    "consent.revoked",
    "reauthentication.succeeded",
)
# Typed into the username field by mistake (a pasted password): never stored or logged as typed.
PASTED = "Tr0ub4dor&3-my-real-password"
EXPECTED = {*REQUEST_EVENTS, "login.failed", "account.locked", "session.ended"}


def audit(cli, *args: str) -> list[dict]:  # type: ignore[no-untyped-def]
    result = cli("audit", "list", "--json", *args)
    assert result.code == 0, result.err
    return result.json()


def browser(http):  # type: ignore[no-untyped-def]
    other = browser_from(http)
    other.headers["user-agent"] = UA
    return other


def sid_of(http) -> str:  # type: ignore[no-untyped-def]
    page = http.get("/account").text
    return re.search(r'<strong>This browser</strong>.*?name="sid" value="([^"]+)"', page, re.DOTALL).group(1)


@pytest.fixture
def trail(make_app, cli, register, capsys, caplog):  # type: ignore[no-untyped-def]
    """Walk every account-protection flow once; return what the audit trail must and must not hold."""
    caplog.set_level(logging.INFO)  # every record the app logs, with its structured fields
    http = make_app(login_max_failures=3)
    http.headers["user-agent"] = UA
    alice = create_user(cli)
    bob = create_user(cli, "bob")
    app = register(*SIGN_IN_CLIENT, name="Photo App")
    secrets: list[str] = [PASSWORD, NEW_PASSWORD, WRONG]

    # A failed and then a successful password sign-in, consent, tokens.
    response, verifier, _ = start(http, app)
    page = follow(http, response)
    page = submit(http, page, username="alice", password=WRONG)
    assert page.status_code == 400
    final, _ = walk(http, submit(http, page, username="alice", password=PASSWORD))
    code = query(final.headers["location"])["code"]
    issued = exchange(http, app, code, verifier).json()
    secrets += [
        code,
        verifier,
        issued["access_token"],
        issued["refresh_token"],
        issued["id_token"],
        app["client_secret"],
    ]

    # Enrolment.
    authenticator, backup = enrol(http)
    secrets += [authenticator.secret, authenticator.secret.lower(), *backup]
    secrets += [c.replace("-", "") for c in backup]

    # A second browser: a wrong code, then the right one.
    second = browser(http)
    page, _, _ = password_step(second, app)
    wrong = authenticator.wrong()
    assert submit(second, page, code=wrong).status_code == 400
    assert submit(second, page, code=authenticator.code()).status_code == 303

    # A third: a backup code. Then the first browser signs it out.
    third = browser(http)
    page, _, _ = password_step(third, app)
    assert submit(third, page, code=backup[0]).status_code == 303
    assert account_post(http, "/account/sessions/end", sid=sid_of(third)).status_code == 303

    # Confirming it's you (sudo mode: this session signed in before TOTP was on), then a password change
    # (signs the second browser out), app removal, TOTP off.
    assert reauthenticate(http, code=authenticator.code()).status_code == 303
    assert (
        account_post(
            http,
            "/account/password",
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
        ).status_code
        == 303
    )
    assert account_post(http, "/account/apps/revoke", client_id=app["client_id"]).status_code == 303
    assert account_post(http, "/account/mfa/totp/disable").status_code == 303
    secrets += [*authenticator.issued, wrong]

    # Someone types a password into the username field.
    form = browser(http)
    response, _, _ = start(form, app)
    assert submit(form, follow(form, response), username=PASTED, password=WRONG).status_code == 400
    secrets += [PASTED, PASTED.lower()]

    # bob signs in once; then someone locks alice out.
    sign_in_to(browser(http), app, username="bob")
    form = browser(http)
    response, _, _ = start(form, app)
    page = follow(form, response)
    for _ in range(3):
        page = submit(form, page, username="alice", password=WRONG)
        assert page.status_code == 400

    for client in (http, second, third, form):
        secrets += [v for v in (client.cookies.get("as_session"), client.cookies.get("as_csrf")) if v]
    logs = capsys.readouterr()
    records = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    return {"alice": alice, "bob": bob, "app": app, "secrets": secrets, "logs": logs.out + logs.err + records}


# --- audit list -------------------------------------------------------------------------------------


def test_the_flows_leave_their_events(cli, trail):
    rows = audit(cli)
    names = {row["event"] for row in rows}
    assert names >= EXPECTED, EXPECTED - names
    alice_id = trail["alice"]["id"]
    for row in rows:
        assert {"id", "time", "event", "user_id", "client_id", "ip", "user_agent"} <= row.keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", row["time"]), row
    # What a person did in a browser names the person, the address and the browser.
    for row in rows:
        if row["event"] in REQUEST_EVENTS and row["user_id"] != trail["bob"]["id"]:
            assert row["user_id"] == alice_id, row
            assert row["ip"] == "testclient", row
            assert row["user_agent"] == UA, row
    by_name = {name: [r for r in rows if r["event"] == name] for name in names}
    [locked] = by_name["account.locked"]
    assert locked["user_id"] == alice_id and locked["ip"] == "testclient"
    assert locked["data"]["seconds"] == 30
    assert {r["data"]["method"] for r in by_name["mfa.used"]} == {"otp", "backup"}
    assert [r["data"]["remaining"] for r in by_name["backup_code.used"]] == [9]
    assert [r["data"]["sessions_ended"] for r in by_name["password.changed"]] == [1]
    assert [r["client_id"] for r in by_name["consent.revoked"]] == [trail["app"]["client_id"]]
    assert len(by_name["mfa.failed"]) == 1 and len(by_name["login.failed"]) == 5
    # The unknown name is kept only as a keyed hash: attempts on it can be grouped, not read back.
    [unknown] = [r for r in by_name["login.failed"] if r["user_id"] is None]
    assert re.fullmatch(r"name:[0-9a-f]{32}", unknown["data"]["account"]), unknown
    assert {"password_changed", "ended_by_user"} <= {r["data"]["reason"] for r in by_name["session.ended"]}
    succeeded = [r for r in by_name["login.succeeded"] if r["user_id"] == alice_id]
    assert [sorted(r["data"]["amr"]) for r in succeeded] == [["pwd"], ["mfa", "otp", "pwd"], ["mfa", "pwd"]]


def _assert_no_secret(text: str, secrets: list[str]) -> None:
    assert text
    for secret in secrets:
        if re.fullmatch(r"\d{6}", secret):  # a TOTP code: only as a number of its own
            assert not re.search(rf"(?<!\d){secret}(?!\d)", text), secret
        else:
            assert secret not in text, secret


def test_no_event_holds_a_secret(cli, trail):
    result = cli("audit", "list", "--json")
    _assert_no_secret(result.out, trail["secrets"])
    text = cli("audit", "list")
    assert text.code == 0 and "login.succeeded" in text.out
    _assert_no_secret(text.out, trail["secrets"])


def test_no_log_line_holds_a_secret(trail):
    if "login.succeeded" not in trail["logs"]:
        pytest.skip("the app's log lines do not go through sys.stdout/sys.stderr here")
    _assert_no_secret(trail["logs"], trail["secrets"])


def test_failed_sign_ins_against_an_account_are_listed_under_its_user(cli, trail):
    failed = [r for r in audit(cli, "--user", "alice") if r["event"] == "login.failed"]
    assert len(failed) == 4


def test_user_filter(cli, trail):
    alice_id, bob_id = trail["alice"]["id"], trail["bob"]["id"]
    mine = audit(cli, "--user", "alice")
    assert mine and {r["user_id"] for r in mine} == {alice_id}
    assert {"mfa.enrolled", "password.changed", "consent.revoked", "account.locked"} <= {r["event"] for r in mine}
    assert audit(cli, "--user", "alice@example.com") == mine
    assert audit(cli, "--user", alice_id) == mine
    bobs = audit(cli, "--user", "bob")
    assert bobs and {r["user_id"] for r in bobs} == {bob_id}
    assert "login.succeeded" in {r["event"] for r in bobs}
    assert_error(cli("audit", "list", "--user", "nobody"), contains="nobody")


def test_since_filter(cli, trail):
    everything = audit(cli)
    assert audit(cli, "--since", "1h") == everything
    assert audit(cli, "--since", "90m") == everything
    assert audit(cli, "--since", "2000-01-01T00:00:00Z") == everything
    assert audit(cli, "--since", "2000-01-01") == everything  # no zone: UTC
    assert audit(cli, "--since", "2999-01-01T00:00:00Z") == []
    text = cli("audit", "list", "--since", "2999-01-01T00:00:00+02:00")
    assert text.code == 0 and text.out.strip() == "no events"
    assert [r["id"] for r in audit(cli, "--limit", "2")] == [r["id"] for r in everything[:2]]


@pytest.mark.parametrize("since", ["yesterday", "1w", "-5m", "5 m", "2024-13-01"])
def test_bad_since_is_a_one_line_error(cli, since):
    assert_error(cli("audit", "list", f"--since={since}"), contains="--since")


def test_bad_limit_is_a_one_line_error(cli):
    assert_error(cli("audit", "list", "--limit", "0"), contains="--limit")


# --- user reset-mfa ---------------------------------------------------------------------------------


def test_reset_mfa_removes_the_second_factor(http, cli, alice, app, env):
    account_sign_in(http)
    authenticator, backup = enrol(http)
    result = cli("user", "reset-mfa", "alice")
    assert result.code == 0, result.err
    assert result.out.strip().endswith("second factors of alice removed")

    page = http.get("/account")
    assert mfa_state(page) == (False, None)
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM totp_factors")).scalar_one() == 0
            assert conn.execute(sa.text("SELECT count(*) FROM backup_codes")).scalar_one() == 0
    finally:
        engine.dispose()
    # Password-only sign-ins again; the old backup codes are gone with the factor.
    _, _, seen = sign_in_to(browser_from(http), app)
    assert seen == ["login", "consent"]

    again = cli("user", "reset-mfa", "alice@example.com", "--json")
    assert again.code == 0
    assert json.loads(again.out[again.out.index("{") :]) == {
        "id": alice["id"],
        "username": "alice",
        "mfa_removed": False,
        "grants_revoked": 0,
        "passkeys_removed": 0,
    }

    events = [r for r in audit(cli, "--user", "alice") if r["event"] == "mfa.reset"]
    assert [r["data"] for r in events] == [
        {"by": "admin-cli", "had_factor": True, "passkeys_removed": 0, "grants_revoked": 0},
        {"by": "admin-cli", "had_factor": False, "passkeys_removed": 0, "grants_revoked": 0},
    ]
    assert {r["user_id"] for r in events} == {alice["id"]}
    _assert_no_secret(cli("audit", "list", "--json").out, [authenticator.secret, *backup, *authenticator.issued])


def test_reset_mfa_prints_only_its_result(cli, alice):
    text = cli("user", "reset-mfa", "alice")
    assert text.code == 0
    assert text.out == "second factors of alice were not set up\n"
    result = cli("user", "reset-mfa", "alice", "--json")
    assert result.code == 0
    assert result.json() == {
        "id": alice["id"],
        "username": "alice",
        "mfa_removed": False,
        "passkeys_removed": 0,
        "grants_revoked": 0,
    }


def test_reset_mfa_of_an_unknown_user_is_a_one_line_error(cli):
    assert_error(cli("user", "reset-mfa", "nobody"), contains="nobody")


def test_reset_mfa_stops_a_half_finished_sign_in(http, cli, app):
    account_sign_in(http)
    authenticator, _ = enrol(http)
    other = browser_from(http)
    page, _, _ = password_step(other, app)
    assert cli("user", "reset-mfa", "alice").code == 0
    response = submit(other, page, code=authenticator.code())
    assert response.status_code == 400
    assert other.cookies.get("as_session") is None
    assert forms(response.text)[0]["action"] == "/mfa"
