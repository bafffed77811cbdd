"""The sign-in state machine's pure decisions (interaction/flow.py, interaction/account_gate.py): when a
request needs a (new) sign-in or a second factor, when a session is recent enough for a sensitive change,
and where the account pages may send the browser back to."""

from __future__ import annotations

import dataclasses

import pytest

from authserver.domain import ACR_MFA, ACR_PASSWORD, BrowserSession, Client
from authserver.interaction import state
from authserver.interaction.account_gate import is_recent, safe_next
from authserver.interaction.flow import needs_login, needs_step_up

NOW = 1_700_000_000
SESSION = BrowserSession(
    id_hash="h",
    sid="sid",
    user_id="alice",
    auth_time=NOW - 600,
    amr=("pwd",),
    acr=ACR_PASSWORD,
    created_at=NOW - 600,
    last_seen_at=NOW,
    expires_at=NOW + 3600,
)
CLIENT = Client(client_id="app", name="App", token_endpoint_auth_method="client_secret_basic")


def flow(**changes: object) -> state.AuthorizeFlow:
    base = state.AuthorizeFlow(
        client_id="app",
        redirect_uri="https://app.example/cb",
        response_mode="query",
        scopes=("openid",),
        state=None,
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # the test's own keyword bag


def login_needed(authz: state.AuthorizeFlow, session: BrowserSession | None, *, signed_in_here: bool = False) -> bool:
    it = state.new_interaction(authz, "browser", NOW)
    if signed_in_here:
        it.signed_in("alice")
    return needs_login(it, authz, session, NOW)


@pytest.mark.parametrize(
    ("authz", "expected"),
    [
        (flow(), False),
        (flow(prompt=frozenset({"login"})), True),
        (flow(prompt=frozenset({"select_account"})), True),
        (flow(prompt=frozenset({"consent"})), False),
        (flow(max_age=0), True),  # OIDC Core §3.1.2.1: max_age=0 is prompt=login
        (flow(max_age=599), True),
        (flow(max_age=600), False),
        (flow(hint_subject="bob"), True),
        (flow(hint_subject="alice"), False),
    ],
)
def test_when_a_session_must_sign_in_again(authz: state.AuthorizeFlow, expected: bool) -> None:
    assert login_needed(authz, SESSION) is expected


def test_no_session_always_signs_in_and_a_sign_in_during_the_request_counts() -> None:
    assert login_needed(flow(), None) is True
    # prompt=login and max_age=0 are satisfied by the sign-in this very request just did.
    assert login_needed(flow(prompt=frozenset({"login"}), max_age=0), SESSION, signed_in_here=True) is False


def test_a_second_factor_is_needed_by_the_client_or_the_request_until_proven() -> None:
    strict = dataclasses.replace(CLIENT, require_mfa=True)
    proven = dataclasses.replace(SESSION, acr=ACR_MFA, amr=("pwd", "otp", "mfa"))
    assert needs_step_up(CLIENT, (), SESSION) is False
    assert needs_step_up(strict, (), SESSION) is True
    assert needs_step_up(CLIENT, (ACR_MFA,), SESSION) is True
    assert needs_step_up(CLIENT, None, SESSION) is False
    assert needs_step_up(strict, (ACR_MFA,), proven) is False


def test_recent_enough_for_a_sensitive_change() -> None:
    fresh = dataclasses.replace(SESSION, auth_time=NOW - 10)
    assert is_recent(fresh, second_factor=False, now=NOW, window=300) is True
    assert is_recent(SESSION, second_factor=False, now=NOW, window=300) is False  # 600 s ago
    # With a second factor enrolled, the password alone is not enough; a multi-factor proof is.
    assert is_recent(fresh, second_factor=True, now=NOW, window=300) is False
    assert is_recent(dataclasses.replace(fresh, amr=("hwk", "user", "mfa")), second_factor=True, now=NOW, window=300)
    # Re-authenticating on /account/reauth counts like a sign-in.
    again = dataclasses.replace(SESSION, reauth_at=NOW - 5, reauth_amr=("pwd", "otp", "mfa"))
    assert is_recent(again, second_factor=True, now=NOW, window=300) is True
    # A time in the future (a clock step back) is not recent.
    assert (
        is_recent(dataclasses.replace(SESSION, auth_time=NOW + 60), second_factor=False, now=NOW, window=300) is False
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/account"),
        ("", "/account"),
        ("/account", "/account"),
        ("/account/security?x=1", "/account/security?x=1"),
        ("/accountant", "/account"),
        ("/login", "/account"),
        ("https://evil.example/account", "/account"),
        ("//evil.example/account", "/account"),
        ("/account/../login", "/account"),
        ("/account\\evil", "/account"),
        ("/account#top", "/account"),
        ("/account/" + "x" * 300, "/account"),
    ],
)
def test_the_account_pages_only_send_the_browser_back_to_themselves(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected
