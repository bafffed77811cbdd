"""Sign-in through an upstream identity provider, against a scriptable provider on a real socket
(tests/fake_idp.py): the chain app -> us -> upstream -> us -> app, and every way the upstream's answer can
be wrong. The same chain against a second authserver process is tests/http/test_upstream_authserver.py."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import ISSUER
from tests.fake_idp import FakeIdP, new_key
from tests.helpers import (
    PASSWORD,
    authorize,
    authorize_params,
    follow,
    forms,
    query,
    submit,
)
from tests.upstreams import (
    REDIRECT,
    SECRET,
    Stopped,
    account_forms,
    account_sign_in,
    add_upstream,
    audit,
    come_back,
    idp_claims,
    leave_for,
    login_page,
    pkce_challenge,
    refused_as_expired,
    refused_on_login_page,
    signed_in_tokens,
    start,
)


@pytest.fixture
def idp():  # type: ignore[no-untyped-def]
    provider = FakeIdP().start()
    yield provider
    provider.stop()


@pytest.fixture
def corp(cli, idp):  # type: ignore[no-untyped-def]
    return add_upstream(cli, idp)


@pytest.fixture
def app(register):  # type: ignore[no-untyped-def]
    return register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--first-party", name="Photo App"
    )  # fmt: skip


# --- the happy chain --------------------------------------------------------------------------


def test_login_page_offers_continue_with_and_allows_the_redirect_in_its_csp(http, app, corp, idp):
    page, _, _ = login_page(http, app)
    assert 'data-upstream="corp"' in page.text
    assert "Continue with Corp" in page.text
    form_action = next(p for p in page.headers["content-security-policy"].split(";") if "form-action" in p)
    assert idp.base in form_action


def test_the_authorization_request_to_the_upstream(http, app, corp, idp):
    sent, _, _ = start(http, app)
    assert sent["url"].startswith(idp.base + "/authorize?")
    assert sent["response_type"] == "code"
    assert sent["client_id"] == "our-client"
    assert sent["redirect_uri"] == f"{ISSUER}/login/upstream/corp/callback" == corp["redirect_uri"]
    assert sent["scope"] == "openid email profile"
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["state"]) >= 32 and len(sent["nonce"]) >= 32 and len(sent["code_challenge"]) == 43


def test_first_sign_in_creates_an_account_and_the_app_gets_amr_fed(http, cli, app, corp, idp):
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="Carol@Example.com", email_verified=True, name="Carol", amr=["pwd"])
    response = come_back(http, code="the-code", state=sent["state"])
    # Not a redirect to the app but a page that goes on by itself (the upstream's form-action would block
    # the redirect), carrying the new session's cookie.
    assert response.status_code == 200 and response.headers["refresh"].startswith("0; url=" + REDIRECT)
    assert "as_session=" in response.headers["set-cookie"]
    claims = signed_in_tokens(http, app, response, verifier, params)
    assert claims["amr"] == ["fed"]
    assert claims["acr"] == "urn:authserver:loa:1"

    # The code exchange at the upstream: our redirect URI, the PKCE verifier of the challenge we sent, Basic auth.
    form, headers = idp.token_requests[-1]
    assert form["grant_type"] == "authorization_code" and form["code"] == "the-code"
    assert form["redirect_uri"] == sent["redirect_uri"]
    assert pkce_challenge(form["code_verifier"]) == sent["code_challenge"]
    assert headers["Authorization"].startswith("Basic ")

    user = cli("user", "show", "carol@example.com", "--json").json()
    assert user["email_verified"] is True and user["name"] == "Carol"
    assert claims["sub"] == user["id"]
    signin = audit(cli, "upstream.signin")
    assert signin[-1]["data"]["upstream"] == "corp" and signin[-1]["data"]["upstream_amr"] == ["pwd"]
    assert audit(cli, "upstream.linked")[-1]["user_id"] == user["id"]


def test_the_next_sign_in_finds_the_same_account(http, make_app, cli, app, corp, idp):
    ids = []
    for _ in range(2):
        browser = make_app()
        sent, verifier, params = start(browser, app)
        idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
        ids.append(
            signed_in_tokens(browser, app, come_back(browser, code="c", state=sent["state"]), verifier, params)["sub"]
        )
    assert ids[0] == ids[1]
    assert len(cli("user", "list", "--json").json()) == 1


def test_a_trusted_upstream_multi_factor_sign_in_is_acr_2(http, cli, app, idp):
    add_upstream(cli, idp, "--trust-mfa")
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True, amr=["pwd", "otp", "mfa"])
    claims = signed_in_tokens(http, app, come_back(http, code="c", state=sent["state"]), verifier, params)
    assert claims["amr"] == ["fed", "mfa"] and claims["acr"] == "urn:authserver:loa:2"


def test_an_untrusted_upstream_saying_mfa_is_still_one_factor(http, app, corp, idp):
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True, amr=["mfa"])
    claims = signed_in_tokens(http, app, come_back(http, code="c", state=sent["state"]), verifier, params)
    assert claims["amr"] == ["fed"] and claims["acr"] == "urn:authserver:loa:1"


# --- state, browser binding, replay -----------------------------------------------------------


def test_a_wrong_state_is_refused_and_nothing_is_exchanged(http, cli, app, corp, idp):
    sent, _, _ = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    refused_as_expired(come_back(http, code="c", state=sent["state"] + "x"))
    refused_as_expired(come_back(http, code="c"))
    assert idp.token_requests == []
    assert audit(cli, "upstream.failed")[-1]["data"]["reason"] == "state"


def test_a_state_works_once(http, app, corp, idp):
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    signed_in_tokens(http, app, come_back(http, code="c", state=sent["state"]), verifier, params)
    refused_as_expired(come_back(http, code="c", state=sent["state"]))
    assert len(idp.token_requests) == 1


def test_an_answer_arriving_in_another_browser_is_refused(http, make_app, app, corp, idp):
    sent, _, _ = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    refused_as_expired(come_back(make_app(), code="c", state=sent["state"]))
    assert idp.token_requests == []


# --- the ID token -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"nonce": "another-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"iss": "https://evil.example"}, "iss"),
        ({"aud": "someone-else"}, "aud"),
        ({"aud": ["our-client", "someone-else"]}, "azp"),
        ({"aud": ["our-client", "someone-else"], "azp": "someone-else"}, "azp"),
        ({"exp": -3600}, "exp"),
        ({"iat": -7200, "exp": 300}, "iat"),
        ({"iat": 3600}, "iat"),
        ({"sub": None}, "sub"),
    ],
)
def test_an_id_token_that_fails_a_check_is_refused(http, cli, app, corp, idp, claims, reason):
    now = int(time.time())  # exp and iat are given relative to now
    claims = {k: now + v if k in ("exp", "iat") else v for k, v in claims.items()}
    sent, _, _ = start(http, app)
    idp.answer_with(**{"nonce": sent["nonce"], "email": "carol@example.com", "email_verified": True, **claims})
    refused_on_login_page(come_back(http, code="c", state=sent["state"]))
    failed = audit(cli, "upstream.failed")[-1]["data"]
    assert reason in failed["reason"], failed
    assert cli("user", "list", "--json").json() == []


def test_an_id_token_signed_by_another_key_with_the_same_kid_is_refused(http, cli, app, corp, idp):
    sent, _, _ = start(http, app)
    forged = idp.id_token(new_key("k1"), nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    idp.tokens = lambda form: (200, {"access_token": "at", "id_token": forged})
    refused_on_login_page(come_back(http, code="c", state=sent["state"]))
    assert "signature" in audit(cli, "upstream.failed")[-1]["data"]["reason"]


def test_an_unsigned_or_hmac_id_token_is_refused(http, cli, app, corp, idp):
    import base64
    import json

    from joserfc import jwt
    from joserfc.jwk import OctKey

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    for make in (
        lambda nonce: b64({"alg": "none"}) + "." + b64(idp_claims(idp, nonce)) + ".",
        lambda nonce: jwt.encode({"alg": "HS256"}, idp_claims(idp, nonce), OctKey.import_key(SECRET)),
    ):
        sent, _, _ = start(http, app)
        token = make(sent["nonce"])
        idp.tokens = lambda form, token=token: (200, {"access_token": "at", "id_token": token})
        refused_on_login_page(come_back(http, code="c", state=sent["state"]))
    assert cli("user", "list", "--json").json() == []


def test_rotated_upstream_keys_are_fetched_again_once(http, app, corp, idp):
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    signed_in_tokens(http, app, come_back(http, code="c", state=sent["state"]), verifier, params)
    assert idp.jwks_fetches == 1

    # The upstream rotates: a new key signs; our cached set does not have it yet.
    idp.keys = [new_key("k2"), *idp.keys]
    browser = http
    browser.cookies.clear()  # another browser of the same server (its cache holds the keys)
    sent, verifier, params = start(browser, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    signed_in_tokens(browser, app, come_back(browser, code="c", state=sent["state"]), verifier, params)
    assert idp.jwks_fetches == 2

    # A token naming a kid nobody publishes refetches at most once a minute: no new fetch now.
    browser = http
    browser.cookies.clear()  # another browser of the same server (its cache holds the keys)
    sent, _, _ = start(browser, app)
    stranger = new_key("k-unknown")
    forged = idp.id_token(stranger, nonce=sent["nonce"])
    idp.tokens = lambda form: (200, {"access_token": "at", "id_token": forged})
    refused_on_login_page(come_back(browser, code="c", state=sent["state"]))
    assert idp.jwks_fetches == 2


# --- mix-up defence ---------------------------------------------------------------------------


def test_an_iss_naming_another_issuer_is_refused(http, cli, app, corp, idp):
    sent, _, _ = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    refused_on_login_page(come_back(http, code="c", state=sent["state"], iss="https://attacker.example"))
    assert idp.token_requests == []
    assert "mix_up" in audit(cli, "upstream.failed")[-1]["data"]["reason"]


def test_an_answer_at_another_upstreams_redirect_uri_is_refused(http, cli, app, corp, idp):
    other = FakeIdP().start()
    try:
        add_upstream(cli, other, name="other")
        sent, _, _ = start(http, app, name="corp")
        idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
        refused_on_login_page(come_back(http, "other", code="c", state=sent["state"]))
        assert idp.token_requests == [] and other.token_requests == []
    finally:
        other.stop()


def test_an_upstream_announcing_iss_must_send_it(http, cli, app):
    idp = FakeIdP(iss_parameter=True).start()
    try:
        add_upstream(cli, idp)
        sent, _, _ = start(http, app)
        idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
        refused_on_login_page(come_back(http, code="c", state=sent["state"]))

        sent, verifier, params = start(http, app)
        idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
        response = come_back(http, code="c", state=sent["state"], iss=idp.issuer)
        assert signed_in_tokens(http, app, response, verifier, params)["amr"] == ["fed"]
    finally:
        idp.stop()


# --- upstream errors and outages --------------------------------------------------------------


def test_access_denied_goes_back_to_our_login_page_not_to_the_app(http, alice, app, corp, idp):
    page, _, params = login_page(http, app)
    sent = leave_for(http, page)
    response = come_back(http, error="access_denied", state=sent["state"])
    refused_on_login_page(response, "was cancelled")
    # The pending authorization is intact: the password still finishes it.
    response = submit(http, response, username="alice", password=PASSWORD)
    assert response.headers["location"].startswith(REDIRECT)
    assert query(response.headers["location"])["state"] == params["state"]


@pytest.mark.parametrize(
    "answer",
    [
        (400, {"error": "invalid_grant"}),
        (200, b"<html>not json</html>"),
        (200, {"token_type": "Bearer"}),
        (200, {"access_token": "at"}),
        (200, {"access_token": "at", "id_token": "not.a.jwt"}),
    ],
)
def test_a_token_endpoint_answering_garbage_is_a_clear_page(http, cli, app, corp, idp, answer):
    sent, _, _ = start(http, app)
    idp.tokens = lambda form: answer
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code in (400, 502)
    assert "Corp" in response.text and 'name="password"' in response.text
    assert audit(cli, "upstream.failed")


def test_an_upstream_that_is_down_leaves_the_password_working(http, alice, app, corp, idp):
    page, _, _ = login_page(http, app)
    sent = leave_for(http, page)
    idp.stop()
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code == 502
    assert "cannot be reached" in response.text
    response = submit(http, response, username="alice", password=PASSWORD)
    assert response.headers["location"].startswith(REDIRECT)
    idp.server = Stopped()  # already stopped: the fixture's stop() is a no-op now


# --- which account --------------------------------------------------------------------------------


def test_link_by_email_needs_a_verified_address(http, make_app, cli, alice, app, idp):
    add_upstream(cli, idp, "--link-by-email")
    sent, _, _ = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="alice@example.com", email_verified=False)
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code == 403 and "exists already" in response.text
    assert audit(cli, "upstream.failed")[-1]["data"]["reason"] == "email_unverified"
    assert audit(cli, "upstream.linked") == []

    browser = make_app()
    sent, verifier, params = start(browser, app)
    idp.answer_with(nonce=sent["nonce"], email="alice@example.com", email_verified="true")  # a string is not true
    assert come_back(browser, code="c", state=sent["state"]).status_code == 403

    browser = make_app()
    sent, verifier, params = start(browser, app)
    idp.answer_with(nonce=sent["nonce"], email="alice@example.com", email_verified=True)
    claims = signed_in_tokens(browser, app, come_back(browser, code="c", state=sent["state"]), verifier, params)
    assert claims["sub"] == alice["id"]
    assert audit(cli, "upstream.linked")[-1]["data"]["by"] == "email"


def test_without_link_by_email_an_existing_address_is_not_taken_over(http, cli, alice, app, corp, idp):
    sent, _, _ = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="alice@example.com", email_verified=True)
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code == 403
    assert "Sign in with your password, then connect Corp" in response.text
    assert len(cli("user", "list", "--json").json()) == 1


def test_no_signup_refuses_unknown_upstream_accounts(http, cli, app, idp):
    add_upstream(cli, idp, "--no-signup")
    sent, _, _ = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code == 403 and "no account" in response.text
    assert cli("user", "list", "--json").json() == []
    assert audit(cli, "upstream.failed")[-1]["data"]["reason"] == "signup_disabled"


def test_an_upstream_without_an_email_cannot_sign_up(http, cli, app, corp, idp):
    sent, _, _ = start(http, app)
    idp.answer_with(nonce=sent["nonce"])
    assert come_back(http, code="c", state=sent["state"]).status_code == 403
    assert cli("user", "list", "--json").json() == []


def test_a_disabled_account_cannot_sign_in_through_the_upstream(http, make_app, cli, app, corp, idp):
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    signed_in_tokens(http, app, come_back(http, code="c", state=sent["state"]), verifier, params)
    assert cli("user", "disable", "carol@example.com").code == 0
    browser = make_app()
    sent, _, _ = start(browser, app)
    idp.answer_with(nonce=sent["nonce"], email="carol@example.com", email_verified=True)
    assert come_back(browser, code="c", state=sent["state"]).status_code == 403


# --- plain OAuth 2.0 (GitHub-style) -------------------------------------------------------------


def test_a_plain_oauth2_upstream_reads_the_user_api_and_verified_emails(http, cli, app, idp):
    result = cli(
        "upstream", "add", "--name", "hub", "--display-name", "Hub", "--client-id", "our-client",
        "--client-secret-stdin", "--authorization-endpoint", idp.base + "/authorize",
        "--token-endpoint", idp.base + "/token", "--userinfo-endpoint", idp.base + "/userinfo",
        "--emails-endpoint", idp.base + "/emails", "--scope", "read:user user:email",
        "--claim", "sub=id", "--claim", "preferred_username=login", "--claim", "name=name", "--json",
        stdin=SECRET + "\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json()["kind"] == "oauth2"
    sent, verifier, params = start(http, app, name="hub")
    assert "nonce" not in sent and sent["scope"] == "read:user user:email"
    idp.tokens = lambda form: (200, {"access_token": "at", "token_type": "bearer"})
    idp.userinfo = {"id": 4242, "login": "octo", "name": "Octo Cat", "email": None}
    idp.emails = [
        {"email": "old@example.com", "primary": False, "verified": True},
        {"email": "octo@example.com", "primary": True, "verified": True},
    ]
    claims = signed_in_tokens(http, app, come_back(http, "hub", code="c", state=sent["state"]), verifier, params)
    assert claims["amr"] == ["fed"]
    user = cli("user", "show", "octo", "--json").json()
    assert user["email"] == "octo@example.com" and user["email_verified"] is True and user["id"] == claims["sub"]


# --- the account page -------------------------------------------------------------------------


def test_the_last_way_in_cannot_be_disconnected(http, cli, app, corp, idp):
    account_sign_in(http, app, idp)
    found, page = account_forms(http)
    assert "Connected as carol@example.com" in page.text
    form = found["/account/upstreams/disconnect"]
    response = http.post(
        "/account/upstreams/disconnect", data={**form["fields"], "upstream": "corp"}, follow_redirects=False
    )
    assert response.status_code == 409
    assert "last way you can sign in" in response.text
    assert audit(cli, "upstream.unlinked") == []


def test_connect_and_disconnect_on_the_account_page(http, cli, alice, register, idp, corp):
    own = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--first-party", name="Own")
    from tests.helpers import sign_in

    sign_in(http, own)  # alice, with her password: a fresh sign-in is recent enough for the change
    found, page = account_forms(http)
    assert "Not connected" in page.text
    form = found["/account/upstreams/connect"]
    response = http.post(
        "/account/upstreams/connect", data={**form["fields"], "upstream": "corp"}, follow_redirects=False
    )
    assert response.status_code == 303
    sent = query(response.headers["location"])
    assert urlsplit(response.headers["location"]).netloc == urlsplit(idp.base).netloc
    idp.answer_with(nonce=sent["nonce"], sub="alice-at-corp", email="alice@corp.example", email_verified=False)
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code == 303 and response.headers["location"] == "/account?done=upstream-linked"
    assert audit(cli, "upstream.linked")[-1]["user_id"] == alice["id"]
    found, page = account_forms(http)
    assert "Connected as alice@corp.example" in page.text

    # Alice now signs in through Corp (an unverified address there does not matter: the link is explicit).
    from tests.helpers import pkce_pair as pair

    browser_claims = None
    for _ in range(1):
        verifier, challenge = pair()
        params = authorize_params(own, challenge, prompt="login")
        login = follow(http, authorize(http, params))
        sent = leave_for(http, login)
        idp.answer_with(nonce=sent["nonce"], sub="alice-at-corp")
        browser_claims = signed_in_tokens(http, own, come_back(http, code="c", state=sent["state"]), verifier, params)
    assert browser_claims is not None and browser_claims["sub"] == alice["id"] and browser_claims["amr"] == ["fed"]

    found, _ = account_forms(http)
    form = found["/account/upstreams/disconnect"]
    response = http.post(
        "/account/upstreams/disconnect", data={**form["fields"], "upstream": "corp"}, follow_redirects=False
    )
    assert response.headers["location"] == "/account?done=upstream-unlinked"
    assert audit(cli, "upstream.unlinked")[-1]["user_id"] == alice["id"]


def test_connecting_needs_a_recent_sign_in(http, cli, alice, register, idp, corp, clock):
    own = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--first-party", name="Own")
    from tests.helpers import sign_in

    sign_in(http, own)
    found, _ = account_forms(http)
    clock.advance(3600)
    form = found["/account/upstreams/connect"]
    response = http.post(
        "/account/upstreams/connect", data={**form["fields"], "upstream": "corp"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/account/reauth")


def test_the_account_link_needs_the_csrf_token(http, alice, app, corp, idp):
    account_sign_in(http, app, idp)
    response = http.post("/account/upstreams/connect", data={"upstream": "corp"}, follow_redirects=False)
    assert response.status_code == 403


def test_an_account_made_through_an_upstream_has_no_password_to_guess(http, make_app, cli, app, corp, idp):
    account_sign_in(http, app, idp)
    browser = make_app()
    page, _, _ = login_page(browser, app)
    for guess in ("", "not-a-real-password-but-the-same-cost", PASSWORD):
        response = submit(browser, page, username="carol@example.com", password=guess)
        assert response.status_code == 400 and "Incorrect username or password" in response.text


def test_an_accounts_own_second_factor_is_still_asked_after_an_untrusted_upstream(http, make_app, cli, alice, app, idp):
    from tests.helpers import sign_in
    from tests.pages import enrol

    sign_in(http, app)  # alice with her password, then two-step verification on
    authenticator, _ = enrol(http)
    add_upstream(cli, idp, "--link-by-email")

    browser = make_app()
    sent, verifier, params = start(browser, app)
    idp.answer_with(nonce=sent["nonce"], email="alice@example.com", email_verified=True, amr=["mfa"])
    response = come_back(browser, code="c", state=sent["state"])
    assert response.status_code == 303 and response.headers["location"].startswith("/mfa?"), response.text
    page = follow(browser, response)
    response = submit(browser, page, code=authenticator.code())
    claims = signed_in_tokens(browser, app, response, verifier, params)
    assert claims["sub"] == alice["id"]
    assert claims["amr"] == ["fed", "otp", "mfa"] and claims["acr"] == "urn:authserver:loa:2"


def test_claims_missing_from_the_id_token_are_read_at_userinfo_only_for_the_same_subject(
    http, make_app, cli, app, corp, idp
):
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], sub="u-7")
    idp.userinfo = {"sub": "u-7", "email": "gina@example.com", "email_verified": True, "name": "Gina"}
    signed_in_tokens(http, app, come_back(http, code="c", state=sent["state"]), verifier, params)
    assert cli("user", "show", "gina@example.com", "--json").json()["name"] == "Gina"

    browser = make_app()
    sent, _, _ = start(browser, app)
    idp.answer_with(nonce=sent["nonce"], sub="u-8")
    idp.userinfo = {"sub": "u-7", "email": "gina@example.com", "email_verified": True}  # someone else's
    response = come_back(browser, code="c", state=sent["state"])
    assert response.status_code == 403 and "did not share an email address" in response.text
    assert audit(cli, "upstream.failed")[-1]["data"]["reason"] == "no_email"
    assert len(cli("user", "list", "--json").json()) == 1


def test_an_account_without_a_password_confirms_its_changes_through_the_upstream(http, cli, app, corp, idp, clock):
    account_sign_in(http, app, idp)  # carol: made through Corp, no password
    clock.advance(3600)  # the sign-in is no longer recent
    found, _ = account_forms(http)
    disconnect = found["/account/upstreams/disconnect"]
    response = http.post(
        "/account/upstreams/disconnect", data={**disconnect["fields"], "upstream": "corp"}, follow_redirects=False
    )
    assert response.headers["location"].startswith("/account/reauth")
    page = http.get(response.headers["location"])
    form = next(f for f in forms(page.text) if f["action"] == "/account/reauth/upstream")
    assert 'data-upstream="corp"' in page.text

    # Another Corp account than the connected one proves nothing.
    response = http.post(
        "/account/reauth/upstream", data={**form["fields"], "upstream": "corp"}, follow_redirects=False
    )
    sent = query(response.headers["location"])
    idp.answer_with(nonce=sent["nonce"], sub="someone-else", iat=int(clock()), exp=int(clock()) + 300)
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code == 403 and "not the one connected" in response.text

    response = http.post(
        "/account/reauth/upstream", data={**form["fields"], "upstream": "corp"}, follow_redirects=False
    )
    sent = query(response.headers["location"])
    idp.answer_with(nonce=sent["nonce"], sub="u-1", iat=int(clock()), exp=int(clock()) + 300)
    response = come_back(http, code="c", state=sent["state"])
    assert response.status_code == 303 and response.headers["location"].startswith("/account")
    assert audit(cli, "reauthentication.succeeded")[-1]["data"]["amr"] == ["fed"]
    # Recent now: the change is decided on its merits (the last way in: refused), not sent to reauth.
    response = http.post(
        "/account/upstreams/disconnect", data={**disconnect["fields"], "upstream": "corp"}, follow_redirects=False
    )
    assert response.status_code == 409


def test_the_account_shows_and_exports_the_upstream_sign_in(http, cli, app, corp, idp):
    account_sign_in(http, app, idp)
    page = http.get("/account")
    # The sign-in history's method names the provider as people know it (its display name, "Corp").
    assert "Through Corp" in page.text and "Through corp" not in page.text
    export = cli("user", "export", "carol@example.com").json()
    assert "Through Corp" in [e["method"] for e in export["sign_in_history"]]
    assert [(i["upstream"], i["subject"]) for i in export["upstream_identities"]] == [("corp", "u-1")]
