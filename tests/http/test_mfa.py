"""The second factor through HTTP: TOTP enrolment at /account/mfa/totp, the /mfa sign-in step, backup
codes, replay, the wrong-code limit, re-authentication (prompt=login, max_age=0), step-up for clients
that require MFA (and for acr_values=urn:authserver:loa:2), turning TOTP off.

The page helpers (tests/pages.py) are shared with test_account.py, test_lockout.py, test_reauth.py
and tests/cli/test_audit_and_reset.py.
"""

from __future__ import annotations

import base64
import re
import threading
from urllib.parse import urlencode

import pyotp
import pytest
import sqlalchemy as sa

from tests.helpers import PASSWORD, follow, forms, query, submit
from tests.pages import (
    ACR_MFA,
    CSRF,
    SECRET_RE,
    SESSION,
    SIGN_IN_CLIENT,
    WRONG_CODE,
    Authenticator,
    account_csrf,
    account_post,
    account_sign_in,
    alert,
    assert_page_headers,
    backup_codes_on,
    browser_from,
    enrol,
    finish_at_client,
    id_claims,
    mfa_state,
    notice,
    open_enrolment,
    password_step,
    reauthenticate,
    set_cookie_names,
    sign_in_to,
    start,
    walk,
)

# --- enrolment --------------------------------------------------------------------------------------


def test_account_page_without_a_session_goes_through_login_and_back(http, alice):
    response = http.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?interaction=")
    page = follow(http, response)
    assert page.status_code == 200 and 'name="password"' in page.text
    response = submit(http, page, username="alice", password=PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    assert SESSION in set_cookie_names(response)
    page = http.get("/account", follow_redirects=False)
    assert page.status_code == 200
    assert "alice@example.com" in page.text
    assert mfa_state(page) == (False, None)
    assert_page_headers(page)


def test_enrolment_page_without_a_session_goes_through_login(http, alice):
    response = http.get("/account/mfa/totp", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?interaction=")
    assert not SECRET_RE.search(response.text)


def test_enrolment_page_shows_an_inline_svg_qr_code_and_the_secret(http, alice):
    account_sign_in(http)
    page, grouped = open_enrolment(http)
    assert_page_headers(page)
    # The secret, grouped by four for typing: 32 base32 characters (160 bits).
    assert re.fullmatch(r"([A-Z2-7]{4} )*[A-Z2-7]{1,4}", grouped), grouped
    secret = grouped.replace(" ", "")
    assert len(secret) == 32
    base64.b32decode(secret)
    # The QR code is inline SVG (no image request, no data: URL, nothing the CSP has to allow) ...
    qr = re.search(r'<div class="qr">\s*(<svg.*?</svg>)\s*</div>', page.text, re.DOTALL)
    assert qr, page.text
    assert "<title>" in qr.group(1) and "<script" not in qr.group(1) and "style=" not in qr.group(1)
    assert "<img" not in page.text and "data:" not in page.text
    # ... of the otpauth:// URI an authenticator app expects (RFC 6238 defaults, account and issuer labels).
    from authserver.security.totp import qr_svg

    uri = pyotp.TOTP(secret).provisioning_uri(name="alice@example.com", issuer_name="testserver")
    assert qr.group(1) == qr_svg(uri)
    form = forms(page.text)[0]
    assert form["action"] == "/account/mfa/totp" and form["method"] == "post"
    assert form["inputs"]["code"]["autocomplete"] == "one-time-code"
    assert form["fields"]["csrf_token"]


def test_factor_is_not_active_until_a_valid_code_is_entered(http, app):
    account_sign_in(http)
    page, secret = open_enrolment(http)
    authenticator = Authenticator(secret)
    assert mfa_state(http.get("/account")) == (False, None)

    # A wrong code keeps it off, and shows the same secret again to retry.
    response = submit(http, page, code=authenticator.wrong())
    assert response.status_code == 400
    assert "not right" in alert(response)
    assert SECRET_RE.search(response.text).group(1) == secret
    assert mfa_state(http.get("/account")) == (False, None)
    for junk in ("", "12345", "1234567", "abcdef", "１２３４５６"):
        assert submit(http, response, code=junk).status_code == 400

    # Meanwhile a sign-in needs only the password.
    other = browser_from(http)
    _, _, seen = sign_in_to(other, app)
    assert seen == ["login", "consent"]

    # The code from the app (posted on the retry page) turns it on; from now on sign-ins ask for it.
    response = submit(http, response, code=authenticator.code())
    assert response.status_code == 200
    assert mfa_state(http.get("/account"))[0] is True
    third = browser_from(http)
    _, _, seen = sign_in_to(third, app, code=authenticator.code)
    assert seen == ["login", "mfa"]


def test_starting_again_replaces_an_unconfirmed_secret(http, alice):
    account_sign_in(http)
    _, first = open_enrolment(http)
    second_page, second = open_enrolment(http)
    assert first != second
    stale = Authenticator(first)
    assert submit(http, second_page, code=stale.code()).status_code == 400
    response = submit(http, second_page, code=Authenticator(second).code())
    assert response.status_code == 200 and len(backup_codes_on(response)) == 10


def test_confirming_shows_ten_backup_codes_once(http, alice):
    account_sign_in(http)
    page, secret = open_enrolment(http)
    response = submit(http, page, code=Authenticator(secret).code())
    assert response.status_code == 200
    assert_page_headers(response)  # no-store: the codes must not stay in a cache
    codes = backup_codes_on(response)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[2-9a-z]{5}-[2-9a-z]{5}", c) for c in codes), codes

    # Shown once: the enrolment page now only sends back to the account page.
    again = http.get("/account/mfa/totp", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/account")
    assert not any(c in again.text for c in codes) and secret not in again.text
    account = http.get(again.headers["location"], follow_redirects=False)
    assert account.status_code == 200
    assert notice(account) == "Two-step verification is on."
    assert mfa_state(account) == (True, 10)
    assert not any(c in account.text for c in codes)
    assert SECRET_RE.search(account.text) is None

    # Posting another code to the enrolment form does not replace the active factor.
    stray = http.post(
        "/account/mfa/totp", data={"csrf_token": account_csrf(http), "code": "123456"}, follow_redirects=False
    )
    assert stray.status_code == 400
    assert not backup_codes_on(stray)
    assert mfa_state(http.get("/account")) == (True, 10)


def test_totp_secret_and_backup_codes_are_not_stored_in_clear(http, alice, env):
    account_sign_in(http)
    page, grouped = open_enrolment(http)
    secret = grouped.replace(" ", "")
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"])
    try:

        def rows(table: str) -> list[dict]:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]  # noqa: S608 - table names are literals in this test

        raw = base64.b32decode(secret)
        forms_of_secret = [
            secret,
            secret.lower(),
            grouped,
            raw.hex(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        ]

        def assert_sealed() -> None:
            [factor] = rows("totp_factors")
            assert factor["user_id"] == alice["id"]
            dump = repr(factor)
            for form in forms_of_secret:
                assert form not in dump, form

        assert_sealed()  # already while it is pending
        response = submit(http, page, code=Authenticator(secret).code())
        assert response.status_code == 200
        codes = backup_codes_on(response)
        assert_sealed()
        stored = rows("backup_codes")
        assert len(stored) == 10
        dump = repr(stored)
        for code in codes:
            assert code not in dump and code.replace("-", "") not in dump
    finally:
        engine.dispose()


def test_enrolment_needs_the_csrf_token(http, alice):
    account_sign_in(http)
    _, secret = open_enrolment(http)
    code = Authenticator(secret).code()
    for data in ({"code": code}, {"code": code, "csrf_token": "x" * 43}):
        response = http.post("/account/mfa/totp", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert_page_headers(response)
    assert mfa_state(http.get("/account")) == (False, None)


# --- signing in with the second factor --------------------------------------------------------------


@pytest.fixture
def enrolled(http, app) -> tuple[Authenticator, list[str]]:  # type: ignore[no-untyped-def]
    """alice has TOTP; `http` is signed in (password only, from before the enrolment)."""
    account_sign_in(http)
    return enrol(http)


def test_password_leads_to_the_mfa_page_without_a_session(http, app, enrolled):
    authenticator, _ = enrolled
    browser = browser_from(http)
    response, _, _ = start(browser, app)
    response = submit(browser, follow(browser, response), username="alice", password=PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/mfa?interaction=")
    assert SESSION not in set_cookie_names(response)  # nothing is granted before the second factor
    page = follow(browser, response)
    assert page.status_code == 200
    assert_page_headers(page)
    assert SESSION not in set_cookie_names(page)
    assert browser.cookies.get(SESSION) is None
    form = forms(page.text)[0]
    assert form["action"] == "/mfa" and form["method"] == "post"
    assert set(form["fields"]) == {"csrf_token", "interaction", "code"}
    assert form["fields"]["csrf_token"] and form["fields"]["interaction"]
    assert form["inputs"]["code"]["autocomplete"] == "one-time-code"
    assert form["inputs"]["code"]["inputmode"] == "numeric"

    # Half signed in is not signed in: the account page and prompt=none both still want a login.
    assert browser.get("/account", follow_redirects=False).headers["location"].startswith("/login?")
    silent, _, _ = start(browser, app, prompt="none")
    assert query(silent.headers["location"])["error"] == "login_required"

    # The half-signed-in state belongs to this browser only.
    thief = browser_from(http)
    thief.get("/account", follow_redirects=False)  # picks up a CSRF cookie of its own
    stolen = thief.get(response.headers["location"], follow_redirects=False)
    assert stolen.status_code == 400 and not forms(stolen.text)
    taken = thief.post(
        "/mfa",
        data={
            "interaction": form["fields"]["interaction"],
            "code": authenticator.code(),
            "csrf_token": thief.cookies.get(CSRF),
        },
        follow_redirects=False,
    )
    assert taken.status_code == 400 and not forms(taken.text)
    assert thief.cookies.get(SESSION) is None


def test_mfa_page_needs_the_password_step_first(http, app, enrolled):
    browser = browser_from(http)
    response, _, _ = start(browser, app)
    interaction = query(response.headers["location"])["interaction"]
    page = browser.get("/mfa?" + urlencode({"interaction": interaction}), follow_redirects=False)
    assert page.status_code == 400
    assert not forms(page.text)
    assert browser.get("/mfa", follow_redirects=False).status_code == 400


def test_a_code_posted_before_the_password_signs_nobody_in(http, app, enrolled):
    """/mfa handles an interaction only at its second-factor step: before the password, a correct code
    gets the "sign-in expired" page, no session and no code; the sign-in itself is not spent."""
    authenticator, _ = enrolled
    browser = browser_from(http)
    response, _, _ = start(browser, app)
    interaction = query(response.headers["location"])["interaction"]
    login_page = follow(browser, response)  # the step the interaction waits on (and this browser's CSRF cookie)
    data = {"interaction": interaction, "code": authenticator.code(), "csrf_token": browser.cookies[CSRF]}
    answer = browser.post("/mfa", data=data, follow_redirects=False)
    assert answer.status_code == 400 and "expired" in answer.text
    assert "location" not in answer.headers
    assert SESSION not in set_cookie_names(answer)
    assert browser.cookies.get(SESSION) is None
    # The sign-in goes on from its password step, then asks for the second factor as usual.
    response = submit(browser, login_page, username="alice", password=PASSWORD)
    assert response.status_code == 303 and response.headers["location"].startswith("/mfa?interaction=")


def test_correct_totp_code_completes_the_sign_in(http, app, enrolled):
    authenticator, _ = enrolled
    browser = browser_from(http)
    page, verifier, params = password_step(browser, app)
    response = submit(browser, page, code=authenticator.code())
    assert response.status_code == 303
    assert SESSION in set_cookie_names(response)
    callback = finish_at_client(browser, app, response)
    assert callback["state"] == params["state"]
    claims = id_claims(browser, app, callback, verifier)
    assert {"pwd", "otp"} <= set(claims["amr"])  # RFC 8176: password, then a one-time password
    assert claims["acr"] == ACR_MFA
    assert claims["nonce"] == params["nonce"]
    # The account page marks the session as a two-step one.
    assert '<span class="badge ok">2-step</span>' in browser.get("/account").text


def test_code_with_spaces_is_accepted(http, app, enrolled):
    authenticator, _ = enrolled
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    code = authenticator.code()
    response = submit(browser, page, code=f" {code[:3]} {code[3:]} ")
    finish_at_client(browser, app, response)


def test_a_totp_code_cannot_be_replayed(http, app, enrolled):
    authenticator, _ = enrolled
    enrolment_code = authenticator.issued[-1]
    first = browser_from(http)
    code = authenticator.code()
    _, _, seen = sign_in_to(first, app, code=code)
    assert seen == ["login", "mfa", "consent"]

    second = browser_from(http)
    page, _, _ = password_step(second, app)
    for replayed in (code, enrolment_code):  # both still inside their 90-second window
        page = submit(second, page, code=replayed)
        assert page.status_code == 400
        assert alert(page).startswith(WRONG_CODE)
        assert forms(page.text)[0]["action"] == "/mfa"
        assert second.cookies.get(SESSION) is None
    # The next code from the app works.
    callback = finish_at_client(second, app, submit(second, page, code=authenticator.code()))
    assert "code" in callback


@pytest.mark.parametrize("kind", ["totp", "backup"])
def test_a_code_raced_from_several_browsers_is_accepted_once(make_app, app, kind):
    http = make_app(login_max_failures=20)  # the losers' failures must not lock the account mid-race
    account_sign_in(http)
    authenticator, codes = enrol(http)
    browsers = [browser_from(http) for _ in range(4)]
    pages = [password_step(b, app)[0] for b in browsers]
    code = authenticator.code() if kind == "totp" else codes[0]
    barrier = threading.Barrier(len(browsers))
    statuses: list[int] = [0] * len(browsers)

    def post(i: int) -> None:
        barrier.wait()
        statuses[i] = submit(browsers[i], pages[i], code=code).status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [303, 400, 400, 400]
    assert sum(b.cookies.get(SESSION) is not None for b in browsers) == 1


def test_backup_code_works_once(http, app, enrolled):
    _, codes = enrolled
    browser = browser_from(http)
    page, verifier, _ = password_step(browser, app)
    callback = finish_at_client(browser, app, submit(browser, page, code=codes[0]))
    claims = id_claims(browser, app, callback, verifier)
    assert "pwd" in claims["amr"] and "mfa" in claims["amr"]
    assert "otp" not in claims["amr"]  # not a code from the authenticator app
    assert claims["acr"] == ACR_MFA
    assert mfa_state(http.get("/account")) == (True, 9)

    # Used up: a second sign-in with the same code fails ...
    again = browser_from(http)
    page, _, _ = password_step(again, app)
    page = submit(again, page, code=codes[0])
    assert page.status_code == 400 and alert(page).startswith(WRONG_CODE)
    assert again.cookies.get(SESSION) is None
    # ... while another one works, typed in capitals with a space instead of the dash.
    typed = codes[1].upper().replace("-", " ")
    finish_at_client(again, app, submit(again, page, code=typed))
    assert mfa_state(http.get("/account")) == (True, 8)


def test_too_many_wrong_codes_discard_the_half_signed_in_state(make_app, app, alice):
    http = make_app(login_max_failures=20)  # only the per-sign-in limit is under test here
    account_sign_in(http)
    authenticator, _ = enrol(http)
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    mfa_form = forms(page.text)[0]
    for _ in range(4):
        page = submit(browser, page, code=authenticator.wrong())
        assert page.status_code == 400
        assert alert(page).startswith(WRONG_CODE)
    stopped = submit(browser, page, code=authenticator.wrong())
    assert stopped.status_code == 400
    assert "Too many wrong codes" in alert(stopped)
    assert not forms(stopped.text)
    assert_page_headers(stopped)
    assert browser.cookies.get(SESSION) is None

    # The interaction is gone: even the right code does not finish it now.
    interaction = mfa_form["fields"]["interaction"]
    late = browser.post("/mfa", data={**mfa_form["fields"], "code": authenticator.code()}, follow_redirects=False)
    assert late.status_code == 400 and not forms(late.text)
    assert browser.cookies.get(SESSION) is None
    for page_path in ("/mfa", "/login"):
        gone = browser.get(page_path + "?" + urlencode({"interaction": interaction}), follow_redirects=False)
        assert gone.status_code == 400 and not forms(gone.text)

    # A new sign-in starts from the password again.
    _, _, seen = sign_in_to(browser, app, code=authenticator.code)
    assert seen == ["login", "mfa", "consent"]


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}], ids=["prompt=login", "max_age=0"])
def test_reauthentication_asks_for_both_factors(http, app, enrolled, extra):
    authenticator, _ = enrolled
    browser = browser_from(http)
    callback, verifier, seen = sign_in_to(browser, app, code=authenticator.code)
    assert seen == ["login", "mfa", "consent"]
    first = id_claims(browser, app, callback, verifier)

    # Without prompt/max_age the session is enough ...
    _, _, seen = sign_in_to(browser, app)
    assert seen == []
    # ... with them, the password and then a code again.
    callback, verifier, seen = sign_in_to(browser, app, code=authenticator.code, **extra)
    assert seen == ["login", "mfa"]
    claims = id_claims(browser, app, callback, verifier)
    assert claims["acr"] == ACR_MFA and "otp" in claims["amr"]
    assert claims["auth_time"] >= first["auth_time"]
    assert claims["sub"] == first["sub"]


# --- step-up: clients that require MFA, and acr_values ---------------------------------------------


@pytest.fixture(params=["require_mfa", "acr_values"])
def strict(request, register, alice) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """(a client, extra authorize parameters) that together demand a second factor."""
    if request.param == "require_mfa":
        return register(*SIGN_IN_CLIENT, "--require-mfa", name="Bank"), {}
    return register(*SIGN_IN_CLIENT, name="Bank"), {"acr_values": ACR_MFA}


def test_password_only_session_steps_up(http, app, strict):
    client, extra = strict
    account_sign_in(http)  # a password-only session ...
    authenticator, _ = enrol(http)  # ... that stays one after turning TOTP on
    # An ordinary request is happy with it.
    _, _, seen = sign_in_to(http, app)
    assert seen == ["consent"]
    # prompt=none cannot step up.
    response, _, _ = start(http, client, prompt="none", **extra)
    assert query(response.headers["location"])["error"] == "login_required"
    # The strict one asks for the password and a code again.
    response, verifier, _ = start(http, client, **extra)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login?")
    final, seen = walk(http, response, code=authenticator.code)
    assert seen == ["login", "mfa", "consent"]
    callback = query(final.headers["location"])
    claims = id_claims(http, client, callback, verifier)
    assert claims["acr"] == ACR_MFA and "otp" in claims["amr"]
    # Now the session is a two-step one: no more questions.
    _, _, seen = sign_in_to(http, client, **extra)
    assert seen == []


def test_user_without_totp_is_told_to_set_it_up(http, strict):
    client, extra = strict
    response, _, _ = start(http, client, **extra)
    final, seen = walk(http, response)
    assert seen == ["login"]
    assert final.status_code == 403
    assert_page_headers(final)
    message = alert(final)
    assert "Bank requires two-step verification" in message and "account page" in message
    assert not forms(final.text)
    assert "location" not in final.headers

    # With an existing password session: the same page straight away.
    http.cookies.clear()
    account_sign_in(http)
    response, _, _ = start(http, client, **extra)
    assert response.status_code == 403
    assert "requires two-step verification" in alert(response)


def test_refused_step_up_leaves_no_phantom_session(http, strict):
    client, extra = strict
    response, _, _ = start(http, client, **extra)
    final, _ = walk(http, response)
    assert final.status_code == 403
    response = http.get("/account", follow_redirects=False)
    if response.status_code == 303:  # not signed in by the refused attempt: sign in now
        account_sign_in(http)
    page = http.get("/account")
    assert page.text.count('action="/account/sessions/end"') == 1, "one browser, one session"


def test_discovery_advertises_the_mfa_acr(http):
    metadata = http.get("/.well-known/openid-configuration").json()
    assert ACR_MFA in metadata["acr_values_supported"]


# --- turning TOTP off -------------------------------------------------------------------------------


REAUTH_TO_ACCOUNT = "/account/reauth?next=%2Faccount"


def test_turning_totp_off_needs_the_password_and_a_current_code(make_app, app):
    """Turning it off is a sudo action: this session signed in with the password only (before TOTP was
    on), so it must prove the password and a current code on the re-authentication page first. (The
    five wrong tries below would lock the account at the default limit of five: tests/http/test_lockout.py.)"""
    http = make_app(login_max_failures=10)
    account_sign_in(http)
    authenticator, _ = enrol(http)
    enrolment_code = authenticator.issued[-1]
    off = "/account/mfa/totp/disable"

    def still_on() -> None:
        refused = account_post(http, off)
        assert refused.status_code == 303 and refused.headers["location"] == REAUTH_TO_ACCOUNT
        assert mfa_state(http.get("/account"))[0] is True

    still_on()
    code = authenticator.code()
    for password in ("not the password", ""):  # wrong, missing (with a right code)
        response = reauthenticate(http, password=password, code=code)
        assert response.status_code == 400
        assert "password and a current code" in alert(response)
        still_on()

    for code in (authenticator.wrong(), enrolment_code, ""):  # wrong, replayed, missing
        response = reauthenticate(http, password=PASSWORD, code=code)
        assert response.status_code == 400
        assert "password and a current code" in alert(response)
        still_on()

    response = reauthenticate(http, password=PASSWORD, code=authenticator.code())
    assert response.status_code == 303 and response.headers["location"] == "/account?done=confirmed"
    response = account_post(http, off)
    assert response.status_code == 303
    page = follow(http, response)
    assert notice(page) == "Two-step verification is off."
    assert mfa_state(page) == (False, None)
    # Sign-ins are password-only again.
    _, _, seen = sign_in_to(browser_from(http), app)
    assert seen == ["login", "consent"]


def test_mfa_form_needs_the_csrf_token(http, app, enrolled):
    authenticator, _ = enrolled
    browser = browser_from(http)
    page, _, _ = password_step(browser, app)
    fields = forms(page.text)[0]["fields"]
    code = authenticator.code()
    for data in (
        {"interaction": fields["interaction"], "code": code},
        {"interaction": fields["interaction"], "code": code, "csrf_token": "y" * 43},
    ):
        response = browser.post("/mfa", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert_page_headers(response)
        assert browser.cookies.get(SESSION) is None
    # The refused posts did not spend the code or the attempt budget in a way that blocks the user.
    finish_at_client(browser, app, submit(browser, page, code=authenticator.issued[-1]))
