"""The hosted pages of the device grant: GET/POST /device and GET/POST /device/confirm.

Code formats, verification_uri_complete, one answer for every wrong code, guess throttling (per IP
address and per signed-in account), CSRF, security headers, and malformed input (4xx, never 500).
"""

from __future__ import annotations

import re
import time

import pytest
from starlette.testclient import TestClient

from tests.helpers import PASSWORD, authorize, authorize_params, forms, jwt_parts, pkce_pair, submit
from tests.http.device import (
    DEVICE_GRANT,
    ISSUER,
    POLL,
    TOO_MANY,
    WRONG_CODE,
    assert_oauth_error,
    confirm_page,
    create_user,
    decide,
    enter_code,
    log_in,
    poll,
    reach_confirm,
    sign_in_browser,
    start,
)

CSRF_FAILURE = "This form has expired or was not sent by this site"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def tv(register) -> dict:  # type: ignore[no-untyped-def]
    return register("--public", "--grant-type", DEVICE_GRANT, "--grant-type", "refresh_token", name="Living Room TV")


@pytest.fixture
def http(make_app):  # type: ignore[no-untyped-def]
    return make_app(device_poll_interval=1)


def browser_from(http: TestClient, host: str) -> TestClient:
    """Another browser (own cookie jar) on another IP address, talking to the same running app."""
    other = TestClient(http.app, base_url=ISSUER, client=(host, 50000))
    other.app_state.update(http.app_state)  # share the started services (same cache and database)
    return other


def alert(page) -> str | None:  # type: ignore[no-untyped-def]
    found = re.search(r'<p class="alert"[^>]*>(.*?)</p>', page.text, re.DOTALL)
    return found.group(1).strip() if found else None


def csrf_of(http: TestClient) -> str:
    page = http.get("/device")
    return forms(page.text)[0]["fields"]["csrf_token"]


def assert_page_headers(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def assert_error_page(response, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert_page_headers(response)


def assert_still_pending(http, client: dict, device_code: str) -> None:  # type: ignore[no-untyped-def]
    assert_oauth_error(poll(http, client, device_code), "authorization_pending")


# --- the entry page -------------------------------------------------------------------------------------


def test_entry_page_form_and_headers(http):
    page = http.get("/device")
    assert page.status_code == 200
    assert_page_headers(page)
    form = forms(page.text)[0]
    assert form["action"] == "/device" and form["method"].lower() == "post"
    assert form["fields"]["user_code"] == ""
    assert form["fields"]["csrf_token"]
    assert form["inputs"]["csrf_token"]["type"] == "hidden"
    cookie = next(c for c in page.headers.get_list("set-cookie") if c.startswith("as_csrf="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert cookie.split(";")[0] == f"as_csrf={form['fields']['csrf_token']}"


def test_every_device_page_carries_the_security_headers(make_app, tv, alice):
    http = make_app(device_poll_interval=1, device_guess_limit=1)
    body = start(http, tv)
    wrong = enter_code(http, "BBBB-BBBB")
    assert wrong.status_code == 400
    assert_page_headers(wrong)
    throttled = enter_code(http, body["user_code"])
    assert throttled.status_code == 429
    assert_page_headers(throttled)
    forbidden = http.post("/device", data={"user_code": body["user_code"]})
    assert forbidden.status_code == 403
    assert_page_headers(forbidden)

    other = browser_from(http, "192.0.2.10")
    page = reach_confirm(other, body["user_code"])
    assert_page_headers(page)
    done = submit(other, page, decision="allow")
    assert done.status_code == 200
    assert_page_headers(done)


# --- accepted code formats ------------------------------------------------------------------------------


ACCEPTED_VARIANTS = {
    "lower case": lambda c: c.lower(),
    "no dash": lambda c: c.replace("-", ""),
    "lower case, no dash": lambda c: c.replace("-", "").lower(),
    "space instead of dash": lambda c: c.replace("-", " "),
    "spaces everywhere": lambda c: " ".join(c.replace("-", "")),
    "spaced dash": lambda c: c.replace("-", " - "),
    "surrounding spaces": lambda c: f"   {c}  ",
    "surrounding tabs": lambda c: f"\t{c.lower()}\t",
    "mixed case": lambda c: c[:2].lower() + c[2:],
}


def test_code_is_accepted_in_any_case_and_spacing(http, tv, alice):
    sign_in_browser(http, tv)
    for name, variant in ACCEPTED_VARIANTS.items():
        body = start(http, tv)
        response = enter_code(http, variant(body["user_code"]))
        assert response.status_code == 303, name
        page = confirm_page(http, response)
        assert body["user_code"] in page.text, name
        assert submit(http, page, decision="allow").status_code == 200, name
        assert poll(http, tv, body["device_code"]).status_code == 200, name


def test_code_with_unicode_spaces_and_dashes_is_accepted(http, tv, alice):
    # Pasted no-break spaces, an IME's full-width space, a typographic dash.
    sign_in_browser(http, tv)
    for variant in (
        lambda c: f"\u00a0{c}\u00a0",
        lambda c: c.replace("-", "\u3000"),
        lambda c: c.replace("-", "\u2013"),
    ):
        body = start(http, tv)
        confirm_page(http, enter_code(http, variant(body["user_code"])))


MALFORMED_CODES = ["", "-", "BCDF-GHJ", "BCDF-GHJKL", "BCDA-GHJK", "BCDF-GHJ1", "BCDF_GHJK", "ВСDF-GHJK", "X" * 64]


def test_malformed_codes_get_the_wrong_code_message(make_app):
    http = make_app(device_guess_limit=len(MALFORMED_CODES))
    for entered in MALFORMED_CODES:
        response = enter_code(http, entered)
        assert response.status_code == 400, entered
        assert alert(response) == WRONG_CODE, entered


def test_a_valid_looking_code_that_was_never_issued_is_wrong(http, tv):
    body = start(http, tv)
    other = "".join(ch if ch == "-" else ("B" if ch != "B" else "C") for ch in body["user_code"])
    response = enter_code(http, other)
    assert response.status_code == 400 and alert(response) == WRONG_CODE
    form = forms(response.text)[0]
    assert form["fields"]["user_code"] == other  # kept so the user can correct it


# --- verification_uri_complete --------------------------------------------------------------------------


def test_verification_uri_complete_prefills_but_approves_nothing(http, tv, alice):
    body = start(http, tv)
    sign_in_browser(http, tv)  # even a signed-in user must submit and confirm
    page = http.get(body["verification_uri_complete"], follow_redirects=False)
    assert page.status_code == 200, page.text
    assert "location" not in page.headers
    assert forms(page.text)[0]["fields"]["user_code"] == body["user_code"]
    assert_still_pending(http, tv, body["device_code"])

    # Submitting the pre-filled form leads to the confirmation page, not to an approval.
    response = submit(http, page)
    confirm = confirm_page(http, response)
    assert body["user_code"] in confirm.text
    assert "Living Room TV" in confirm.text
    submit(http, confirm, decision="allow")
    time.sleep(POLL)
    assert poll(http, tv, body["device_code"]).status_code == 200


def test_verification_uri_complete_without_session_leads_through_login(http, tv, alice):
    body = start(http, tv)
    page = http.get(body["verification_uri_complete"])
    response = log_in(http, submit(http, page))
    page = confirm_page(http, response)
    submit(http, page, decision="allow")
    assert poll(http, tv, body["device_code"]).status_code == 200


def test_prefill_is_escaped_and_bounded(http):
    page = http.get("/device", params={"user_code": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;" in page.text or "&#34;&gt;&lt;script" in page.text
    long = http.get("/device", params={"user_code": "B" * 5000})
    assert long.status_code == 200
    assert len(forms(long.text)[0]["fields"]["user_code"]) <= 64


# --- one answer for every wrong code --------------------------------------------------------------------


def test_wrong_code_answer_is_the_same_for_unknown_used_denied_and_expired(http, tv, alice, clock):
    never = enter_code(http, "BBBB-BBBB")

    used = start(http, tv)
    decide(http, used["user_code"], "allow")
    assert poll(http, tv, used["device_code"]).status_code == 200
    approved = start(http, tv)
    decide(http, approved["user_code"], "allow")  # approved, not yet redeemed
    denied = start(http, tv)
    decide(http, denied["user_code"], "deny")
    expired = start(http, tv)

    answers = {"never issued": never}
    for name, code in (("redeemed", used), ("approved", approved), ("denied", denied)):
        answers[name] = enter_code(http, code["user_code"])
    clock.advance(expired["expires_in"] + 1)
    answers["expired"] = enter_code(http, expired["user_code"])

    for name, response in answers.items():
        assert response.status_code == 400, name
        assert alert(response) == WRONG_CODE, name
        assert "location" not in response.headers, name


def test_denying_then_reentering_the_code_is_a_wrong_code(http, tv, alice):
    body = start(http, tv)
    decide(http, body["user_code"], "deny")
    again = enter_code(http, body["user_code"])
    assert again.status_code == 400 and alert(again) == WRONG_CODE
    assert_oauth_error(poll(http, tv, body["device_code"]), "access_denied")


# --- the confirmation page ------------------------------------------------------------------------------


def test_confirm_without_session_redirects_to_login(http, tv, alice):
    body = start(http, tv)
    response = enter_code(http, body["user_code"])
    assert response.status_code == 303
    login_location = response.headers["location"]
    assert login_location.startswith("/login?interaction=")
    interaction = login_location.split("=", 1)[1]

    page = http.get(f"/device/confirm?interaction={interaction}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == login_location

    data = {"interaction": interaction, "decision": "allow", "csrf_token": http.cookies["as_csrf"]}
    posted = http.post("/device/confirm", data=data, follow_redirects=False)
    assert posted.status_code == 303
    assert posted.headers["location"] == login_location
    assert_still_pending(http, tv, body["device_code"])

    # The interaction survives: signing in continues to the confirmation page.
    page = confirm_page(http, log_in(http, response))
    assert body["user_code"] in page.text


def test_wrong_password_on_the_way_keeps_the_code_pending(http, tv, alice):
    body = start(http, tv)
    response = enter_code(http, body["user_code"])
    failed = log_in(http, response, password="wrong password")
    assert failed.status_code == 400
    assert "Incorrect username or password." in failed.text
    response = submit(http, failed, username="alice", password=PASSWORD)
    page = confirm_page(http, response)
    assert body["user_code"] in page.text
    assert_still_pending(http, tv, body["device_code"])


def test_confirm_needs_a_decision(http, tv, alice):
    body = start(http, tv)
    page = reach_confirm(http, body["user_code"])
    for decision in ("", "maybe"):
        response = submit(http, page, decision=decision)
        assert_error_page(response)
        assert "Choose Allow or Deny." in response.text
    assert_still_pending(http, tv, body["device_code"])
    done = submit(http, page, decision="allow")
    assert done.status_code == 200 and "Device connected" in done.text


def test_confirm_form_is_single_use(http, tv, alice):
    body = start(http, tv)
    page = reach_confirm(http, body["user_code"])
    assert submit(http, page, decision="deny").status_code == 200
    again = submit(http, page, decision="allow")
    assert_error_page(again)
    assert "expired" in again.text
    assert_oauth_error(poll(http, tv, body["device_code"]), "access_denied")


def test_confirm_in_another_browser_is_refused(http, tv, alice):
    body = start(http, tv)
    response = enter_code(http, body["user_code"])
    location = response.headers["location"]
    thief = browser_from(http, "198.51.100.20")
    sign_in_browser(thief, tv)
    stolen = thief.get(location.replace("/login", "/device/confirm"), follow_redirects=False)
    assert_error_page(stolen)
    assert "another browser" in stolen.text
    assert_still_pending(http, tv, body["device_code"])


def test_two_browsers_with_the_same_code_only_the_first_decision_counts(http, cli, tv, alice):
    bob = create_user(cli, "bob")
    body = start(http, tv)
    alices_page = reach_confirm(http, body["user_code"])
    bobs_browser = browser_from(http, "198.51.100.30")
    response = enter_code(bobs_browser, body["user_code"])  # still pending: both may open it
    bobs_page = confirm_page(bobs_browser, log_in(bobs_browser, response, username="bob"))

    assert submit(http, alices_page, decision="allow").status_code == 200
    late = submit(bobs_browser, bobs_page, decision="allow")
    assert_error_page(late)
    assert "expired or was already used" in late.text
    reentered = enter_code(bobs_browser, body["user_code"])
    assert reentered.status_code == 400 and alert(reentered) == WRONG_CODE

    tokens = poll(http, tv, body["device_code"]).json()
    assert jwt_parts(tokens["access_token"])[1]["sub"] == alice["id"] != bob["id"]


def test_client_disabled_while_the_user_confirms(http, cli, tv, alice):
    body = start(http, tv)
    page = reach_confirm(http, body["user_code"])
    assert cli("client", "disable", tv["client_id"]).code == 0
    again = http.get(
        "/device/confirm?interaction=" + forms(page.text)[0]["fields"]["interaction"], follow_redirects=False
    )
    assert_error_page(again)
    assert "no longer registered" in again.text
    allowed = submit(http, page, decision="allow")
    assert_error_page(allowed)
    assert_oauth_error(poll(http, tv, body["device_code"]), "invalid_client", 401)


def test_confirming_before_the_code_and_before_the_sign_in_grants_nothing(http, tv, alice):
    """/device/confirm handles a device interaction only at its confirmation step: before any code was
    entered it is the "sign-in expired" page; after the code, before the sign-in, it sends the browser to
    the login page of the interaction. The device keeps waiting, and the sign-in goes on from there."""
    body = start(http, tv)
    phone = browser_from(http, "10.9.1.1")
    csrf = csrf_of(phone)
    for early in ({}, {"interaction": "made-up"}):
        answer = phone.post("/device/confirm", data={**early, "decision": "allow", "csrf_token": csrf})
        assert_error_page(answer)
        assert "expired" in answer.text
    entered = enter_code(phone, body["user_code"])  # this browser has no session: the login step is next
    login_url = entered.headers["location"]
    assert login_url.startswith("/login?interaction=")
    interaction = login_url.split("=", 1)[1]
    for decision in ("allow", "deny"):
        data = {"interaction": interaction, "decision": decision, "csrf_token": csrf}
        answer = phone.post("/device/confirm", data=data, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == login_url
    assert phone.get(f"/device/confirm?interaction={interaction}", follow_redirects=False).headers["location"] == (
        login_url
    )
    assert_still_pending(phone, tv, body["device_code"])
    page = confirm_page(phone, log_in(phone, entered))
    assert submit(phone, page, decision="allow").status_code == 200


def test_confirm_with_a_missing_or_unknown_interaction(http, tv, alice):
    sign_in_browser(http, tv)
    for query in ("", "?interaction=", "?interaction=nope", "?interaction=" + "x" * 5000):
        response = http.get("/device/confirm" + query, follow_redirects=False)
        assert_error_page(response)
        assert "expired" in response.text


def test_sign_in_interaction_is_not_a_device_interaction(http, register, alice):
    app = register("--redirect-uri", "https://app.example/cb", name="web app")
    _, challenge = pkce_pair()
    response = authorize(http, authorize_params(app, challenge))
    assert response.headers["location"].startswith("/login?interaction=")
    interaction = response.headers["location"].split("=", 1)[1]
    page = http.get(f"/device/confirm?interaction={interaction}", follow_redirects=False)
    assert_error_page(page)


def test_device_interaction_at_consent_is_an_error_page(http, tv, alice):
    # A device interaction has no redirect_uri: /consent must refuse it with a page (once a 500).
    browser = TestClient(http.app, base_url=ISSUER, raise_server_exceptions=False)
    browser.app_state.update(http.app_state)
    sign_in_browser(browser, tv)
    body = start(browser, tv)
    location = enter_code(browser, body["user_code"]).headers["location"]
    interaction = location.split("=", 1)[1]
    page = browser.get(f"/consent?interaction={interaction}", follow_redirects=False)
    assert_error_page(page)
    for decision in ("deny", "allow"):
        data = {"interaction": interaction, "decision": decision, "csrf_token": browser.cookies["as_csrf"]}
        assert_error_page(browser.post("/consent", data=data, follow_redirects=False))
    assert_still_pending(browser, tv, body["device_code"])
    # The device interaction itself is untouched and can still be confirmed.
    confirm = browser.get(location, follow_redirects=False)
    assert confirm.status_code == 200 and body["user_code"] in confirm.text


# --- guess throttling -----------------------------------------------------------------------------------


def test_after_too_many_wrong_codes_even_the_right_code_is_refused(make_app, tv):
    http = make_app(device_poll_interval=1, device_guess_limit=3)
    body = start(http, tv)
    for wrong in ("BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"):
        response = enter_code(http, wrong)
        assert response.status_code == 400 and alert(response) == WRONG_CODE
    refused = enter_code(http, body["user_code"])
    assert refused.status_code == 429
    assert "location" not in refused.headers
    assert TOO_MANY in refused.text
    assert_still_pending(http, tv, body["device_code"])
    # Every later attempt from this address is refused the same way, right or wrong.
    assert enter_code(http, "FFFF-FFFF").status_code == 429


def test_throttling_is_per_ip_address(make_app, tv):
    http = make_app(device_poll_interval=1, device_guess_limit=3)
    body = start(http, tv)
    for _ in range(3):
        assert enter_code(http, "BBBB-BBBB").status_code == 400
    assert enter_code(http, body["user_code"]).status_code == 429
    elsewhere = browser_from(http, "203.0.113.5")
    response = enter_code(elsewhere, body["user_code"])
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?interaction=")


def test_throttling_counts_an_ipv6_64_as_one_address(make_app, tv):
    http = make_app(device_poll_interval=1, device_guess_limit=3)
    body = start(http, tv)
    for i in range(3):  # one host rotating through its /64
        assert enter_code(browser_from(http, f"2001:db8:aa:bb::{i + 1}"), "BBBB-BBBB").status_code == 400
    assert enter_code(browser_from(http, "2001:db8:aa:bb:1:2:3:4"), body["user_code"]).status_code == 429
    assert enter_code(browser_from(http, "2001:db8:aa:bc::1"), body["user_code"]).status_code == 303


def test_throttling_follows_the_signed_in_account_across_addresses(make_app, tv, alice):
    http = make_app(device_poll_interval=1, device_guess_limit=3)
    laptop = http
    phone = browser_from(http, "198.51.100.7")
    sign_in_browser(laptop, tv)
    sign_in_browser(phone, tv)
    for _ in range(3):
        assert enter_code(laptop, "BBBB-BBBB").status_code == 400
    body = start(http, tv)
    refused = enter_code(phone, body["user_code"])
    assert refused.status_code == 429 and TOO_MANY in refused.text
    # Someone else, not signed in, at a third address is not affected.
    stranger = browser_from(http, "203.0.113.77")
    assert enter_code(stranger, body["user_code"]).status_code == 303


def test_right_codes_and_csrf_failures_are_not_counted_as_guesses(make_app, tv, alice):
    http = make_app(device_poll_interval=1, device_guess_limit=1)
    for _ in range(3):
        assert enter_code(http, start(http, tv)["user_code"]).status_code == 303
        assert http.post("/device", data={"user_code": "BBBB-BBBB"}).status_code == 403
    assert enter_code(http, start(http, tv)["user_code"]).status_code == 303


# --- CSRF -----------------------------------------------------------------------------------------------


def test_entry_without_csrf_token_is_forbidden(http, tv):
    body = start(http, tv)
    http.get("/device")  # the browser has its CSRF cookie
    response = http.post("/device", data={"user_code": body["user_code"]}, follow_redirects=False)
    assert_error_page(response, 403)
    assert CSRF_FAILURE in response.text


def test_entry_with_a_wrong_csrf_token_is_forbidden(http, tv):
    body = start(http, tv)
    csrf_of(http)
    response = http.post(
        "/device", data={"user_code": body["user_code"], "csrf_token": "x" * 43}, follow_redirects=False
    )
    assert_error_page(response, 403)


def test_entry_with_a_token_but_no_cookie_is_forbidden(http, tv):
    body = start(http, tv)
    token = csrf_of(http)
    fresh = browser_from(http, "192.0.2.55")  # a cross-site form post: the victim has no matching cookie
    response = fresh.post("/device", data={"user_code": body["user_code"], "csrf_token": token}, follow_redirects=False)
    assert_error_page(response, 403)


def test_confirm_without_or_with_wrong_csrf_is_forbidden(http, tv, alice):
    body = start(http, tv)
    page = reach_confirm(http, body["user_code"])
    interaction = forms(page.text)[0]["fields"]["interaction"]
    for token in (None, "", "y" * 43):
        data = {"interaction": interaction, "decision": "allow"}
        if token is not None:
            data["csrf_token"] = token
        response = http.post("/device/confirm", data=data, follow_redirects=False)
        assert_error_page(response, 403)
    assert_still_pending(http, tv, body["device_code"])
    # The real form still works afterwards.
    assert submit(http, page, decision="allow").status_code == 200


# --- malformed input: 4xx, never 500 --------------------------------------------------------------------


def test_very_long_user_code(http):
    token = csrf_of(http)
    response = http.post("/device", data={"user_code": "B" * 20_000, "csrf_token": token})
    assert response.status_code == 400
    assert alert(response) == WRONG_CODE
    too_big = http.post("/device", data={"user_code": "B" * 200_000, "csrf_token": token})
    assert too_big.status_code == 413


def test_non_utf8_forms_on_the_pages(http, tv, alice):
    token = csrf_of(http)
    body = start(http, tv)
    page = reach_confirm(http, body["user_code"])
    interaction = forms(page.text)[0]["fields"]["interaction"]
    for junk in (b"\xff\xfe", b"%FF%FE"):
        response = http.post("/device", content=b"user_code=" + junk + b"&csrf_token=" + token.encode(), headers=FORM)
        assert_error_page(response, 400)
        confirm = http.post(
            "/device/confirm",
            headers=FORM,
            follow_redirects=False,
            content=(
                b"decision=allow&interaction="
                + interaction.encode()
                + b"&csrf_token="
                + token.encode()
                + b"&note="
                + junk
            ),
        )
        assert_error_page(confirm, 400)
    assert_still_pending(http, tv, body["device_code"])


def test_non_utf8_forms_at_the_device_endpoint(http, tv):
    latin1_scope = b"scope=op%E9nid&client_id=" + tv["client_id"].encode()
    for body in (b"client_id=\xff\xfe", b"client_id=%FF%FE", latin1_scope):
        response = http.post("/device_authorization", content=body, headers=FORM)
        assert_oauth_error(response, "invalid_request")


def test_non_utf8_device_code_at_the_token_endpoint(http, tv):
    form = f"grant_type={DEVICE_GRANT}&client_id={tv['client_id']}&device_code=%FF"
    response = http.post("/token", headers=FORM, content=form.encode())
    assert_oauth_error(response, "invalid_request")


def test_wrong_content_type_at_the_device_endpoint(http, tv):
    for content_type in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
        response = http.post(
            "/device_authorization",
            headers={"Content-Type": content_type},
            content=f'{{"client_id": "{tv["client_id"]}"}}'.encode(),
        )
        assert_oauth_error(response, "invalid_request")


def test_json_on_the_entry_page(http):
    token = csrf_of(http)
    response = http.post("/device", json={"user_code": "BCDF-GHJK", "csrf_token": token})
    assert_error_page(response, 400)


def test_repeated_or_nul_parameters_on_the_entry_page(http):
    token = csrf_of(http)
    for body in ("user_code=BCDF-GHJK&user_code=BCDF-GHJK", "user_code=BCDF%00GHJK"):
        response = http.post("/device", content=f"{body}&csrf_token={token}".encode(), headers=FORM)
        assert_error_page(response, 400)


def test_repeated_device_code_at_the_token_endpoint(http, tv):
    body = start(http, tv)
    response = http.post(
        "/token",
        headers=FORM,
        content=(
            f"grant_type={DEVICE_GRANT}&client_id={tv['client_id']}"
            f"&device_code={body['device_code']}&device_code={body['device_code']}"
        ).encode(),
    )
    assert_oauth_error(response, "invalid_request")


def test_repeated_scope_at_the_device_endpoint(http, tv):
    # Repeated scope (RFC 6749 §3.2: parameters must not repeat).
    response = http.post(
        "/device_authorization", headers=FORM, content=f"client_id={tv['client_id']}&scope=openid&scope=email".encode()
    )
    assert_oauth_error(response, "invalid_request")


def test_get_entry_page_never_redirects(http):
    # Whatever the query, GET /device only shows the form.
    for query in ("", "?user_code=", "?user_code=BCDF-GHJK", "?interaction=x", "?user_code=%FF"):
        response = http.get("/device" + query, follow_redirects=False)
        assert response.status_code in (200, 400), (query, response.status_code)
        assert "location" not in response.headers
