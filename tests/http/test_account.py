"""The hosted account page through HTTP: password changes (and the password policy), sessions,
connected apps (consent revocation), new backup codes, and CSRF on every form."""

from __future__ import annotations

import re

import pytest

from tests.helpers import PASSWORD, basic, follow, forms, submit
from tests.pages import (
    GENERIC,
    SESSION,
    account_csrf,
    account_post,
    account_sign_in,
    alert,
    assert_page_headers,
    backup_codes_on,
    browser_from,
    create_user,
    enrol,
    mfa_state,
    notice,
    password_step,
    reauthenticate,
    sign_in_to,
    start,
    tokens,
    walk,
)

NEW_PASSWORD = "violet elephant tangerine marmalade"
FULL = "openid profile email offline_access"


def sessions_on(page) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    """[(sid, is this browser)] as the account page lists them."""
    found = re.findall(
        r'<strong>(This browser|Another browser)</strong>.*?name="sid" value="([^"]+)"', page.text, re.DOTALL
    )
    return [(sid, label == "This browser") for label, sid in found]


def my_sid(http) -> str:  # type: ignore[no-untyped-def]
    [sid] = [sid for sid, current in sessions_on(http.get("/account")) if current]
    return sid


def signed_in(http) -> bool:  # type: ignore[no-untyped-def]
    response = http.get("/account", follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/login?interaction=")
        return False
    assert response.status_code == 200, response.text
    return True


def password_works(http, password: str, username: str = "alice") -> bool:  # type: ignore[no-untyped-def]
    """Try the password in a fresh browser: True if it is accepted (signed in, or on to /mfa), False on the
    generic refusal."""
    browser = browser_from(http)
    response = browser.get("/account", follow_redirects=False)
    page = follow(browser, response)
    response = submit(browser, page, username=username, password=password)
    if response.status_code == 400:
        assert alert(response) == GENERIC
        return False
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account" or response.headers["location"].startswith("/mfa?")
    return True


def introspect(http, resource_server: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect",
        data={"token": token},
        headers=basic(resource_server["client_id"], resource_server["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(http, client: dict, token: str):  # type: ignore[no-untyped-def]
    return http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers=basic(client["client_id"], client["client_secret"]),
    )


@pytest.fixture
def api(register) -> dict:  # type: ignore[no-untyped-def]
    """A resource server that may introspect tokens."""
    return register(name="api")


# --- the page ---------------------------------------------------------------------------------------


def test_account_page_shows_the_profile_and_only_posts_with_csrf(http, alice):
    page = account_sign_in(http)
    assert_page_headers(page)
    assert "<dd>alice</dd>" in page.text and "alice@example.com" in page.text
    assert mfa_state(page) == (False, None)
    assert any(f["action"] == "/account/mfa/totp/start" for f in forms(page.text))  # setting up starts with a POST
    assert "No apps have access" in page.text
    assert sessions_on(page) == [(sessions_on(page)[0][0], True)]
    assert "Sign out everywhere else" not in page.text
    for form in forms(page.text):
        assert form["method"] == "post", form
        assert form["fields"]["csrf_token"] == http.cookies.get("as_csrf"), form
    password_form = next(f for f in forms(page.text) if f["action"] == "/account/password")
    inputs = password_form["inputs"]
    assert inputs["current_password"]["autocomplete"] == "current-password"
    assert inputs["new_password"]["autocomplete"] == "new-password"
    assert inputs["confirm_password"]["autocomplete"] == "new-password"


# --- password changes -------------------------------------------------------------------------------


def test_password_change_needs_the_current_password_and_a_good_new_one(http, alice):
    account_sign_in(http)
    cases = [
        ({"current_password": "not my password at all", "new_password": NEW_PASSWORD}, "current password is not right"),
        ({"current_password": "", "new_password": NEW_PASSWORD}, "current password is not right"),
        ({"new_password": "Sh0rt-pass!"}, "at least 12 characters"),
        ({"new_password": "password1234"}, "too common"),
        ({"new_password": "aaaaaaaaaaaaaaaa"}, "too easy to guess"),
        ({"new_password": "alice@example.com"}, "must not be the username or email"),
        ({"new_password": "Alice@Example.com"}, "must not be the username or email"),
        ({"new_password": "correct horse " * 10}, "at most 128 characters"),
        ({"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "!"}, "do not match"),
    ]
    for values, message in cases:
        data = {"current_password": PASSWORD, **values}
        data.setdefault("confirm_password", data["new_password"])
        response = account_post(http, "/account/password", **data)
        assert response.status_code == 400, (values, response.text)
        assert message in alert(response), (values, alert(response))
        password_form = next(f for f in forms(response.text) if f["action"] == "/account/password")
        assert not any(
            password_form["fields"][k]  # nothing typed is echoed back
            for k in ("current_password", "new_password", "confirm_password")
        )
        assert_page_headers(response)
    assert signed_in(http)
    assert password_works(http, PASSWORD)
    assert not password_works(http, NEW_PASSWORD)


def test_password_equal_to_the_username_is_refused(http, cli):
    create_user(cli, "bartholomew-smith", email="bart@example.com")
    account_sign_in(http, username="bartholomew-smith")
    for candidate in ("bartholomew-smith", "Bartholomew-Smith"):
        response = account_post(
            http, "/account/password", current_password=PASSWORD, new_password=candidate, confirm_password=candidate
        )
        assert response.status_code == 400
        assert "must not be the username" in alert(response)
    assert password_works(http, PASSWORD, username="bartholomew-smith")


def test_password_change_signs_out_the_other_sessions(http, app, alice):
    account_sign_in(http)
    other = browser_from(http)
    callback, verifier, _ = sign_in_to(other, app, scope="openid profile email")
    refresh_token = tokens(other, app, callback, verifier)["refresh_token"]  # bound to other's session
    third = browser_from(http)
    account_sign_in(third)

    response = account_post(
        http, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert response.status_code == 303
    page = follow(http, response)
    assert notice(page) == "Your password was changed. Your other sessions were signed out."
    assert signed_in(http)  # this browser stays in
    assert len(sessions_on(page)) == 1
    assert not signed_in(other) and not signed_in(third)
    assert refresh(other, app, refresh_token).json()["error"] == "invalid_grant"

    assert not password_works(http, PASSWORD)
    assert password_works(http, NEW_PASSWORD)


def test_password_change_keeps_the_second_factor(http, app, alice):
    account_sign_in(http)
    authenticator, _ = enrol(http)
    # This session signed in before TOTP was on: a password change needs a code now (sudo mode).
    response = account_post(
        http, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/account/reauth?")
    assert password_works(http, PASSWORD)
    assert reauthenticate(http, code=authenticator.code()).status_code == 303
    response = account_post(
        http, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    )
    assert response.status_code == 303
    assert mfa_state(http.get("/account"))[0] is True
    _, _, seen = sign_in_to(browser_from(http), app, password=NEW_PASSWORD, code=authenticator.code)
    assert seen == ["login", "mfa", "consent"]


# --- sessions ---------------------------------------------------------------------------------------


def test_account_page_lists_the_sessions(http, alice):
    account_sign_in(http)
    other = browser_from(http)
    account_sign_in(other)
    mine, theirs = sessions_on(http.get("/account")), sessions_on(other.get("/account"))
    assert len(mine) == 2 and sum(current for _, current in mine) == 1
    assert {sid for sid, _ in mine} == {sid for sid, _ in theirs}
    assert [sid for sid, current in mine if current] == [sid for sid, current in theirs if not current]
    assert "Sign out everywhere else" in http.get("/account").text


def test_ending_another_session_signs_that_browser_out(http, app, alice):
    account_sign_in(http)
    other = browser_from(http)
    callback, verifier, _ = sign_in_to(other, app, scope="openid profile email")
    refresh_token = tokens(other, app, callback, verifier)["refresh_token"]
    target = my_sid(other)
    assert target != my_sid(http)

    response = account_post(http, "/account/sessions/end", sid=target)
    assert response.status_code == 303
    page = follow(http, response)
    assert notice(page) == "The session was signed out."
    assert [sid for sid, _ in sessions_on(page)] == [my_sid(http)]
    assert not signed_in(other)
    assert refresh(other, app, refresh_token).json()["error"] == "invalid_grant"
    assert signed_in(http)

    for sid in (target, "no-such-session", ""):
        response = account_post(http, "/account/sessions/end", sid=sid)
        assert response.status_code == 400
        assert "already ended" in alert(response)
    assert signed_in(http)


def test_someone_elses_session_cannot_be_ended(http, cli, alice):
    create_user(cli, "bob")
    bob = browser_from(http)
    account_sign_in(bob, username="bob")
    bobs_sid = my_sid(bob)
    account_sign_in(http)
    assert bobs_sid not in [sid for sid, _ in sessions_on(http.get("/account"))]
    response = account_post(http, "/account/sessions/end", sid=bobs_sid)
    assert response.status_code == 400
    assert signed_in(bob)


def test_sign_out_everywhere_else(http, alice):
    account_sign_in(http)
    others = [browser_from(http) for _ in range(2)]
    for other in others:
        account_sign_in(other)
    assert len(sessions_on(http.get("/account"))) == 3
    response = account_post(http, "/account/sessions/end-others")
    assert response.status_code == 303
    page = follow(http, response)
    assert notice(page) == "All your other sessions were signed out."
    assert sessions_on(page) == [(my_sid(http), True)]
    assert "Sign out everywhere else" not in page.text
    assert [signed_in(other) for other in others] == [False, False]
    assert signed_in(http)


def test_ending_the_current_session_clears_the_cookie(http, app, alice):
    account_sign_in(http)
    cookie = http.cookies.get(SESSION)
    response = account_post(http, "/account/sessions/end", sid=my_sid(http))
    assert response.status_code == 200
    assert "You are signed out" in response.text
    assert_page_headers(response)
    [cleared] = [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION + "=")]
    assert "max-age=0" in cleared.lower() or "expires=thu, 01 jan 1970" in cleared.lower()
    assert http.cookies.get(SESSION) is None
    assert not signed_in(http)
    # The old cookie value is dead on the server too.
    http.cookies.set(SESSION, cookie, domain="testserver.local")
    assert not signed_in(http)
    silent, _, _ = start(http, app, prompt="none")
    assert "error=login_required" in silent.headers["location"]


# --- apps with access (consent) ---------------------------------------------------------------------


def test_remove_access_deletes_the_consent_and_the_tokens(http, app, api):
    callback, verifier, seen = sign_in_to(http, app, scope=FULL)
    assert seen == ["login", "consent"]
    issued = tokens(http, app, callback, verifier)
    assert introspect(http, app, issued["access_token"])["active"] is True
    assert introspect(http, app, issued["refresh_token"])["active"] is True  # only its client may ask
    page = http.get("/account")
    assert "Photo App" in page.text and "No apps have access" not in page.text

    response = account_post(http, "/account/apps/revoke", client_id=app["client_id"])
    assert response.status_code == 303
    page = follow(http, response)
    assert notice(page) == "The app's access was removed."
    assert "Photo App" not in page.text and "No apps have access" in page.text
    assert introspect(http, app, issued["access_token"]) == {"active": False}
    assert introspect(http, app, issued["refresh_token"]) == {"active": False}
    assert refresh(http, app, issued["refresh_token"]).json()["error"] == "invalid_grant"
    userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert userinfo.status_code == 401
    assert signed_in(http)  # the browser session is not what was removed

    again = account_post(http, "/account/apps/revoke", client_id=app["client_id"])
    assert again.status_code == 400 and "no longer has access" in alert(again)

    # The next sign-in asks for consent again, and the new grant works.
    callback, verifier, seen = sign_in_to(http, app, scope=FULL)
    assert seen == ["consent"]
    fresh = tokens(http, app, callback, verifier)
    assert introspect(http, app, fresh["access_token"])["active"] is True


def test_remove_access_ends_access_tokens_of_apps_without_refresh_tokens(http, register, api, alice):
    web = register("--grant-type", "authorization_code", "--redirect-uri", "https://web.example/cb", name="Web")
    callback, verifier, _ = sign_in_to(http, web)
    issued = tokens(http, web, callback, verifier)
    assert "refresh_token" not in issued
    assert introspect(http, web, issued["access_token"])["active"] is True
    assert account_post(http, "/account/apps/revoke", client_id=web["client_id"]).status_code == 303
    assert introspect(http, web, issued["access_token"]) == {"active": False}


def test_remove_access_only_touches_this_users_consent(http, cli, app, api):
    create_user(cli, "bob")
    bob = browser_from(http)
    callback, verifier, _ = sign_in_to(bob, app, username="bob")
    bobs = tokens(bob, app, callback, verifier)
    account_sign_in(http)
    for client_id in (app["client_id"], "no-such-client", ""):
        response = account_post(http, "/account/apps/revoke", client_id=client_id)
        assert response.status_code == 400
        assert "no longer has access" in alert(response)
    assert "Photo App" in bob.get("/account").text
    assert introspect(http, app, bobs["refresh_token"])["active"] is True


# --- backup codes -----------------------------------------------------------------------------------


def test_new_backup_codes_replace_the_old_ones(http, app, alice):
    account_sign_in(http)
    authenticator, old_codes = enrol(http)
    # Use one, so the count shows it.
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    assert submit(browser, page, code=old_codes[0]).status_code == 303
    assert mfa_state(http.get("/account")) == (True, 9)

    # New codes are a sudo action, and this session has not proved the second factor yet.
    for code in (authenticator.wrong(), old_codes[0], ""):  # wrong, used, missing
        refused = account_post(http, "/account/mfa/backup-codes")
        assert refused.status_code == 303 and refused.headers["location"] == "/account/reauth?next=%2Faccount"
        assert not backup_codes_on(refused)
        response = reauthenticate(http, code=code)
        assert response.status_code == 400
        assert "current code from your app" in alert(response)
        assert not backup_codes_on(response)
    assert mfa_state(http.get("/account")) == (True, 9)

    assert reauthenticate(http, code=authenticator.code()).status_code == 303
    response = account_post(http, "/account/mfa/backup-codes")
    assert response.status_code == 200
    assert_page_headers(response)
    assert "old codes no longer work" in response.text
    new_codes = backup_codes_on(response)
    assert len(set(new_codes)) == 10 and not set(new_codes) & set(old_codes)
    assert mfa_state(http.get("/account")) == (True, 10)

    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    page = submit(browser, page, code=old_codes[2])
    assert page.status_code == 400  # the old set is gone
    final, _ = walk(browser, submit(browser, page, code=new_codes[0]))
    assert final.headers["location"].startswith(app["redirect_uris"][0])
    assert mfa_state(http.get("/account")) == (True, 9)


# --- CSRF and signed-out posts ----------------------------------------------------------------------


ACTIONS = {
    "/account/password": {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    "/account/reauth": {"password": PASSWORD, "code": "000000", "next": "/account"},
    "/account/mfa/totp/start": {},
    "/account/mfa/totp": {"code": "000000"},
    "/account/mfa/totp/disable": {},
    "/account/mfa/backup-codes": {},
    "/account/sessions/end": {"sid": ""},
    "/account/sessions/end-others": {},
    "/account/apps/revoke": {"client_id": ""},
}


def test_every_account_form_needs_the_csrf_token(http, app, alice):
    sign_in_to(http, app)  # a consent to remove
    authenticator, _ = enrol(http)
    other = browser_from(http)
    account_sign_in(other, code=authenticator.code)
    # In sudo mode, so that every action below would go through if its CSRF token were not checked.
    assert reauthenticate(http, code=authenticator.code()).status_code == 303
    values = {
        **ACTIONS,
        "/account/sessions/end": {"sid": my_sid(other)},
        "/account/apps/revoke": {"client_id": app["client_id"]},
        "/account/reauth": {"password": PASSWORD, "code": authenticator.code(), "next": "/account"},
    }
    # A forged cross-site post: the session cookie goes along, the CSRF cookie does not match.
    forger = browser_from(http)
    forger.cookies.set(SESSION, http.cookies.get(SESSION), domain="testserver.local")
    for action, data in values.items():
        for client, token in ((http, None), (http, "z" * 43), (forger, account_csrf(http))):
            posted = data if token is None else {**data, "csrf_token": token}
            response = client.post(action, data=posted, follow_redirects=False)
            assert response.status_code == 403, (action, token, response.text)
            assert "form has expired" in alert(response)
            assert_page_headers(response)
    # Nothing happened.
    page = http.get("/account")
    assert mfa_state(page) == (True, 10)
    assert len(sessions_on(page)) == 2 and "Photo App" in page.text
    assert signed_in(other)
    assert password_works(http, PASSWORD)


def test_account_forms_without_a_session_go_to_login(http, alice):
    response = http.get("/account", follow_redirects=False)  # gives this browser a CSRF cookie
    assert response.status_code == 303
    token = http.cookies.get("as_csrf")
    assert token
    for action, data in ACTIONS.items():
        response = http.post(action, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303, (action, response.text)
        assert response.headers["location"].startswith("/login?interaction=")
    assert password_works(http, PASSWORD)
