"""The device grant honours --require-mfa and acr_values (RFC 8628 + OIDC Core §3.1.2.1) like /authorize:
the approval page asks a user with a second factor for it (signing in again with both), refuses a user
without one (403, the code stays pending), and the tokens carry the acr/amr of that approval."""

from __future__ import annotations

import pytest

from tests.helpers import follow, jwt_parts, submit
from tests.pages import ACR_MFA, ACR_PASSWORD, account_sign_in, alert, browser_from, enrol, walk

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def http(make_app):  # type: ignore[no-untyped-def]
    return make_app(device_poll_interval=1)


@pytest.fixture
def authenticator(http, alice):  # type: ignore[no-untyped-def]
    """alice's authenticator app: she turned on two-step verification (in a browser of her own)."""
    setup = browser_from(http, host="10.9.0.1")
    account_sign_in(setup)
    app, _ = enrol(setup)
    return app


@pytest.fixture
def strict_tv(register) -> dict:  # type: ignore[no-untyped-def]
    return register("--public", "--grant-type", DEVICE_GRANT, "--require-mfa", name="Strict TV")


@pytest.fixture
def tv(register) -> dict:  # type: ignore[no-untyped-def]
    return register("--public", "--grant-type", DEVICE_GRANT, name="TV")


def start(http, client: dict, **form: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post("/device_authorization", data={"client_id": client["client_id"], **form})
    assert response.status_code == 200, response.text
    return response.json()


def poll(http, client: dict, device: dict):  # type: ignore[no-untyped-def]
    data = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": client["client_id"]}
    return http.post("/token", data=data)


def enter(phone, device: dict):  # type: ignore[no-untyped-def]
    return submit(phone, phone.get("/device"), user_code=device["user_code"])


def to_confirm(phone, response, *, code=None):  # type: ignore[no-untyped-def]
    """From the code entry (or the confirm page's redirect) through any sign-in pages to the confirm page."""
    final, seen = walk(phone, response, code=code)
    assert final.status_code == 303 and final.headers["location"].startswith("/device/confirm"), final.text
    page = follow(phone, final)
    assert page.status_code == 200 and "decision" in page.text, page.text
    return page, seen


def assert_mfa_tokens(body: dict) -> None:
    _, id_claims = jwt_parts(body["id_token"])
    assert id_claims["acr"] == ACR_MFA
    assert set(id_claims["amr"]) == {"pwd", "otp", "mfa"}
    assert jwt_parts(body["access_token"])[1]["acr"] == ACR_MFA


def test_a_client_requiring_mfa_gets_both_factors_through_the_device_flow(http, strict_tv, authenticator):
    device = start(http, strict_tv, scope="openid")
    phone = browser_from(http, host="10.9.0.2")
    page, seen = to_confirm(phone, enter(phone, device), code=authenticator.code)
    assert seen == ["login", "mfa"]
    assert submit(phone, page, decision="allow").status_code == 200
    response = poll(http, strict_tv, device)
    assert response.status_code == 200, response.text
    assert_mfa_tokens(response.json())


def test_the_confirm_page_steps_up_a_session_that_proved_only_the_password(http, strict_tv, tv, alice):
    """alice signs in (password only: no factor yet) on her phone, then turns on TOTP: her session still
    says password-only, and a device needing a second factor makes her sign in again with both."""
    phone = browser_from(http, host="10.9.0.7")
    account_sign_in(phone)
    authenticator, _ = enrol(phone)

    device = start(http, strict_tv, scope="openid")
    entered = enter(phone, device)
    assert entered.headers["location"].startswith("/device/confirm")
    confirm = follow(phone, entered)
    assert confirm.status_code == 303 and confirm.headers["location"].startswith("/login?interaction=")
    # Posting "allow" without the step-up approves nothing.
    interaction = confirm.headers["location"].split("interaction=", 1)[1]
    posted = phone.post(
        "/device/confirm",
        data={"interaction": interaction, "decision": "allow", "csrf_token": phone.cookies.get("as_csrf")},
        follow_redirects=False,
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login?interaction=")

    page, seen = to_confirm(phone, confirm, code=authenticator.code)
    assert seen == ["login", "mfa"]
    assert submit(phone, page, decision="allow").status_code == 200
    response = poll(http, strict_tv, device)
    assert response.status_code == 200, response.text
    assert_mfa_tokens(response.json())


def test_a_user_without_a_second_factor_is_refused_and_may_still_deny(http, strict_tv, alice):
    device = start(http, strict_tv, scope="openid")
    phone = browser_from(http, host="10.9.0.8")
    final, seen = walk(phone, enter(phone, device))
    assert seen == ["login"]
    refused = follow(phone, final)
    assert refused.status_code == 403
    assert "requires two-step verification" in (alert(refused) or refused.text)

    # The code is still pending (a decision needs a pending code): she can deny it, without a factor.
    interaction = final.headers["location"].split("interaction=", 1)[1]
    denied = phone.post(
        "/device/confirm",
        data={"interaction": interaction, "decision": "deny", "csrf_token": phone.cookies.get("as_csrf")},
        follow_redirects=False,
    )
    assert denied.status_code == 200, denied.text
    response = poll(http, strict_tv, device)
    assert response.status_code == 400 and response.json()["error"] == "access_denied"


def test_acr_values_asks_for_a_second_factor_on_any_client(http, tv, authenticator):
    device = start(http, tv, scope="openid", acr_values=f"{ACR_MFA} urn:other:unknown")
    phone = browser_from(http, host="10.9.0.9")
    page, seen = to_confirm(phone, enter(phone, device), code=authenticator.code)
    assert seen == ["login", "mfa"]
    assert submit(phone, page, decision="allow").status_code == 200
    assert_mfa_tokens(poll(http, tv, device).json())


def test_without_a_requirement_the_password_is_enough(http, tv, alice):
    device = start(http, tv, scope="openid", acr_values=ACR_PASSWORD)
    phone = browser_from(http, host="10.9.0.10")
    page, seen = to_confirm(phone, enter(phone, device))
    assert seen == ["login"]
    assert submit(phone, page, decision="allow").status_code == 200
    body = poll(http, tv, device).json()
    _, id_claims = jwt_parts(body["id_token"])
    assert id_claims["acr"] == ACR_PASSWORD and id_claims["amr"] == ["pwd"]
