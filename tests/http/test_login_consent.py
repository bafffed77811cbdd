"""The hosted sign-in pages and the login -> consent -> code flow, driven like a browser."""

from __future__ import annotations

import json
import re
import time

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from authserver.interaction import state
from tests.helpers import (
    PASSWORD,
    authorize,
    authorize_params,
    exchange,
    follow,
    forms,
    jwt_parts,
    pkce_pair,
    query,
    sign_in,
    submit,
)

REDIRECT = "https://app.example/cb"
ISSUER = "http://testserver"
GENERIC = "Incorrect username or password."
SESSION = "as_session"
CSRF = "as_csrf"


# --- fixtures and helpers -------------------------------------------------------------------------


def create_user(cli, username: str, email: str, name: str = "") -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "user",
        "create",
        "--username",
        username,
        "--email",
        email,
        "--name",
        name,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.code == 0, result.err


@pytest.fixture
def client(register, alice):  # type: ignore[no-untyped-def]
    return register(
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        name="Photo App",
    )


def set_cookies(response, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The Set-Cookie headers for `name`, as {value, attribute: value} dicts (attribute names lowercased)."""
    found = []
    for header in response.headers.get_list("set-cookie"):
        first, *attrs = [part.strip() for part in header.split(";")]
        key, _, value = first.partition("=")
        if key != name:
            continue
        cookie: dict = {"value": value}
        for attr in attrs:
            k, _, v = attr.partition("=")
            cookie[k.lower()] = v
        found.append(cookie)
    return found


def set_cookie(response, name: str) -> dict:  # type: ignore[no-untyped-def]
    [cookie] = set_cookies(response, name)
    return cookie


def replace_cookie(http, name: str, value: str | None) -> None:  # type: ignore[no-untyped-def]
    """What a different browser (or a planted cookie) would look like."""
    http.cookies.delete(name)
    if value is not None:
        http.cookies.set(name, value, domain="testserver.local")


def start(http, client: dict, **extra: str):  # type: ignore[no-untyped-def]
    """GET /authorize; returns (response, verifier, params)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, **extra)
    return authorize(http, params), verifier, params


def login_page(http, client: dict, **extra: str):  # type: ignore[no-untyped-def]
    response, verifier, params = start(http, client, **extra)
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith("/login?interaction="), response.headers["location"]
    page = follow(http, response)
    assert page.status_code == 200, page.text
    return page, verifier, params


def login(http, page, username: str = "alice", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return submit(http, page, username=username, password=password)


def callback(response, params: dict) -> dict:  # type: ignore[no-untyped-def]
    """The successful redirect back to the client: code, state and iss."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(params["redirect_uri"] + "?"), location
    result = query(location)
    assert "error" not in result, result
    assert result["state"] == params["state"]
    assert result["iss"] == ISSUER
    assert result["code"]
    return result


def assert_error_page(response, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def tokens_for(http, client: dict, code: str, verifier: str) -> dict:  # type: ignore[no-untyped-def]
    response = exchange(http, client, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()


def id_token_claims(http, token: str) -> dict:  # type: ignore[no-untyped-def]
    """Verify the ID token's signature with the published JWKS and return its claims."""
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    return jwt.decode(token, keys, algorithms=["RS256"]).claims


def id_token_of(http, client: dict, code: str, verifier: str) -> dict:  # type: ignore[no-untyped-def]
    return id_token_claims(http, tokens_for(http, client, code, verifier)["id_token"])


def csp_directives(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


# --- the login page -------------------------------------------------------------------------------


def test_authorize_without_a_session_redirects_to_login_and_sets_a_csrf_cookie(http, client):
    response, _, _ = start(http, client)
    assert response.status_code == 302
    assert re.fullmatch(r"/login\?interaction=[A-Za-z0-9_-]{20,64}", response.headers["location"])
    cookie = set_cookie(response, CSRF)
    assert len(cookie["value"]) >= 32
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "secure" not in cookie  # http issuer (development)
    assert not set_cookies(response, SESSION)


def test_login_page_has_an_accessible_password_form(http, client):
    page, _, _ = login_page(http, client)
    assert page.headers["content-type"].startswith("text/html")
    form, passkey = forms(page.text)  # the password form first; the passkey form (its button shown by script)
    assert passkey["action"] == "/login/passkey" and set(passkey["fields"]) == {
        "csrf_token",
        "interaction",
        "credential",
    }
    assert form["action"] == "/login"
    assert form["method"].lower() == "post"
    inputs = form["inputs"]
    assert set(form["fields"]) == {"csrf_token", "interaction", "username", "password"}
    assert inputs["csrf_token"]["type"] == "hidden" and form["fields"]["csrf_token"] == http.cookies[CSRF]
    assert inputs["interaction"]["type"] == "hidden" and form["fields"]["interaction"]
    assert inputs["username"]["autocomplete"] == "username webauthn"  # passkeys offered by autofill too
    assert inputs["password"]["autocomplete"] == "current-password"
    assert inputs["password"]["type"] == "password"
    assert form["fields"]["password"] == ""
    labels = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', page.text))
    for name in ("username", "password"):
        assert inputs[name]["id"] in labels, f"no <label for> for {name}"
    assert "Photo App" in page.text
    assert '<html lang="en">' in page.text


def test_login_page_security_headers(http, client):
    page, _, _ = login_page(http, client)
    csp = csp_directives(page)
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert "'unsafe-eval'" not in page.headers["content-security-policy"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["default-src"] == ["'none'"]
    assert "'self'" in csp["form-action"]
    assert "https://app.example" in csp["form-action"]  # login may redirect to the client after the POST
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    # No inline script or style in the page itself.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert "<style" not in page.text and " style=" not in page.text


def test_login_hint_prefills_the_username_escaped(http, client):
    page, _, _ = login_page(http, client, login_hint="alice@example.com")
    assert forms(page.text)[0]["fields"]["username"] == "alice@example.com"
    hostile = '"><script>alert(1)</script>'
    page, _, _ = login_page(http, client, login_hint=hostile)
    assert forms(page.text)[0]["fields"]["username"] == hostile
    assert "<script>alert(1)" not in page.text


# --- credentials ----------------------------------------------------------------------------------


def test_bad_credentials_all_get_the_same_generic_answer(http, cli, client):
    cases = [
        ("wrong-password", "alice", PASSWORD + "x"),
        ("unknown-user", "mallory", PASSWORD),
        ("empty-password", "alice", ""),
        ("over-long-password", "alice", PASSWORD + "x" * 2000),  # refused without hashing it
        ("over-long-user", "a" * 400, PASSWORD),
        ("empty-user", "", PASSWORD),
        ("disabled-user", "alice", PASSWORD),  # last: it disables alice
    ]
    pages = {}
    for case, username, password in cases:
        if case == "disabled-user":
            assert cli("user", "disable", "alice").code == 0
        page, _, _ = login_page(http, client)
        response = login(http, page, username, password)
        assert response.status_code == 400, case
        assert response.headers["content-type"].startswith("text/html"), case
        assert GENERIC in response.text, case
        assert not set_cookies(response, SESSION), case
        assert SESSION not in http.cookies, case
        # The form is shown again for the same interaction, username kept, password not.
        form = forms(response.text)[0]
        assert form["fields"]["username"] == username, case
        assert form["fields"]["password"] == "", case
        assert form["fields"]["interaction"] == forms(page.text)[0]["fields"]["interaction"], case
        normalized = response.text.replace(form["fields"]["interaction"], "I")
        if username:
            pages[case] = normalized.replace(f'value="{username}"', 'value="U"')
    # Nothing tells a wrong password, an unknown user and a disabled account apart.
    assert len(set(pages.values())) == 1, sorted(pages)
    for word in ("disabled", "not found", "unknown", "does not exist", "locked"):
        assert word not in pages["disabled-user"].lower()


def test_a_failed_attempt_can_be_followed_by_a_successful_one(http, client):
    page, _, _params = login_page(http, client, prompt=None)
    failed = login(http, page, password="nope")
    assert failed.status_code == 400
    response = login(http, failed)
    assert response.headers["location"].startswith("/consent?")


@pytest.mark.parametrize("username", ["alice@example.com", "ALICE", "Alice@Example.COM", "  alice  "])
def test_login_by_email_and_case_insensitively(http, register, alice, username):
    first_party = register("--redirect-uri", REDIRECT, "--first-party", name="Own App")
    page, _, params = login_page(http, first_party)
    response = login(http, page, username)
    callback(response, params)


# --- CSRF and interaction binding -----------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token-0123456789abcdef"])
def test_login_without_the_right_csrf_token_is_refused(http, client, token):
    page, _, _ = login_page(http, client)
    form = forms(page.text)[0]
    data = {**form["fields"], "username": "alice", "password": PASSWORD}
    if token is None:
        del data["csrf_token"]
    else:
        data["csrf_token"] = token
    response = http.post("/login", data=data, follow_redirects=False)
    assert_error_page(response, 403)
    assert not set_cookies(response, SESSION)


def test_login_without_the_csrf_cookie_is_refused(http, client):
    page, _, _ = login_page(http, client)
    replace_cookie(http, CSRF, None)
    response = login(http, page)
    assert_error_page(response, 403)
    assert not set_cookies(response, SESSION)


def test_interaction_started_in_another_browser_is_refused(http, client):
    page, _, _ = login_page(http, client)
    interaction = forms(page.text)[0]["fields"]["interaction"]
    # Another browser: its own CSRF cookie (and a form token that matches it).
    other = "another-browser-csrf-token-0123456789"
    replace_cookie(http, CSRF, other)
    shown = http.get(f"/login?interaction={interaction}")
    assert_error_page(shown)
    assert "another browser" in shown.text
    response = http.post(
        "/login",
        data={"csrf_token": other, "interaction": interaction, "username": "alice", "password": PASSWORD},
        follow_redirects=False,
    )
    assert_error_page(response)
    assert not set_cookies(response, SESSION)


def test_interaction_link_opened_by_a_second_browser_is_refused(http, make_app, client):
    page, _, _ = login_page(http, client)
    interaction = forms(page.text)[0]["fields"]["interaction"]
    other = make_app()  # another browser (and, with Redis, the same shared interaction store)
    response, _, _ = start(other, client)  # it has a CSRF cookie of its own
    shown = other.get(f"/login?interaction={interaction}")
    assert_error_page(shown)
    stolen = {
        **forms(page.text)[0]["fields"],
        "csrf_token": other.cookies[CSRF],
        "username": "alice",
        "password": PASSWORD,
    }
    response = other.post("/login", data=stolen, follow_redirects=False)
    assert_error_page(response)
    assert not set_cookies(response, SESSION)
    # The rightful browser can still finish.
    assert login(http, page).headers["location"].startswith("/consent?")


def test_unknown_interaction_is_an_error_page(http, client):
    login_page(http, client)  # gets this browser a CSRF cookie
    for interaction in (None, "", "unknown-interaction-id", "x" * 500):
        url = "/login" if interaction is None else f"/login?interaction={interaction}"
        shown = http.get(url)
        assert_error_page(shown)
        assert "expired" in shown.text
        data = {"csrf_token": http.cookies[CSRF], "username": "alice", "password": PASSWORD}
        if interaction is not None:
            data["interaction"] = interaction
        response = http.post("/login", data=data, follow_redirects=False)
        assert_error_page(response)
        assert not set_cookies(response, SESSION)
        assert_error_page(http.get(url.replace("/login", "/consent")))
        data["decision"] = "allow"
        assert_error_page(http.post("/consent", data=data, follow_redirects=False))


def test_a_finished_interaction_cannot_be_used_again(http, register, alice):
    first_party = register("--redirect-uri", REDIRECT, "--first-party", name="Own App")
    page, _, params = login_page(http, first_party)
    callback(login(http, page), params)
    # Replaying the login POST (back button + resubmit) does not mint a second code.
    replay = login(http, page)
    assert_error_page(replay)
    assert "expired" in replay.text
    interaction = forms(page.text)[0]["fields"]["interaction"]
    assert_error_page(http.get(f"/login?interaction={interaction}"))


def test_an_expired_interaction_is_an_error_page(make_app, client, clock):
    http = make_app(interaction_ttl=60)
    page, _, _ = login_page(http, client)
    interaction = forms(page.text)[0]["fields"]["interaction"]
    cache = http.app_state["services"].cache
    if hasattr(cache, "_redis"):
        # Redis expires it by itself: check the TTL it was stored with, then let it "expire".
        ttl = cache._redis.pttl(cache._prefix + state.PREFIX + interaction)
        assert 0 < ttl <= 60_000
        cache.delete(state.PREFIX + interaction)
    else:
        clock.advance(61)  # the in-process cache's TTLs run on the app's clock
    expired = login(http, page)
    assert_error_page(expired)
    assert "expired" in expired.text
    assert not set_cookies(expired, SESSION)
    assert_error_page(http.get(f"/login?interaction={interaction}"))


@pytest.mark.parametrize(
    ("key", "record"),
    [
        # What the previous release stored (an untyped dict under "interaction:"), met during a rolling deploy.
        ("interaction:", '{"id": "ID", "request": {"client_id": "x"}, "browser": "b", "created_at": 0}'),
        # A record under this format's key that does not decode: corrupt, or written by a later format.
        (state.PREFIX, '{"v": 3, "id": "ID"}'),
        (state.PREFIX, '{"v": 2, "id": "ID", "flow": {"kind": "no-such-flow"}}'),
        (state.PREFIX, "not json"),
    ],
)
def test_an_interaction_in_another_format_is_the_expired_page_not_a_500(http, client, key, record):
    page, _, _ = login_page(http, client)
    interaction = forms(page.text)[0]["fields"]["interaction"]
    cache = http.app_state["services"].cache
    cache.delete(state.PREFIX + interaction)
    cache.set(key + interaction, record.replace("ID", interaction), 60)
    for response in (login(http, page), http.get(f"/login?interaction={interaction}")):
        assert_error_page(response)
        assert "expired" in response.text
        assert not set_cookies(response, SESSION)


def test_client_disabled_during_sign_in_gets_no_code(http, cli, client):
    page, _, _ = login_page(http, client)
    assert cli("client", "disable", client["client_id"]).code == 0
    response = login(http, page)
    assert_error_page(response)
    assert "code=" not in response.text


# --- the session cookie ---------------------------------------------------------------------------


def test_successful_login_sets_a_session_cookie(http, client):
    page, _, _ = login_page(http, client)
    response = login(http, page)
    assert response.status_code == 303
    cookie = set_cookie(response, SESSION)
    assert len(cookie["value"]) >= 32
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "secure" not in cookie
    assert int(cookie["max-age"]) > 0
    assert "domain" not in cookie


def test_https_issuer_uses_secure_host_prefixed_cookies(env, client):
    from starlette.testclient import TestClient

    from authserver.app import create_app
    from authserver.settings import Settings

    issuer = "https://login.example"
    with TestClient(create_app(Settings(issuer=issuer)), base_url=issuer) as https:
        response, _, params = start(https, client)
        csrf = set_cookie(response, "__Host-" + CSRF)
        assert "secure" in csrf and "httponly" in csrf and csrf["path"] == "/" and "domain" not in csrf
        page = follow(https, response)
        response = login(https, page)
        assert not set_cookies(response, SESSION)
        cookie = set_cookie(response, "__Host-" + SESSION)
        assert "secure" in cookie and "httponly" in cookie
        assert cookie["samesite"].lower() == "lax" and cookie["path"] == "/" and "domain" not in cookie
        response = submit(https, follow(https, response), decision="allow")
        location = response.headers["location"]
        assert query(location)["iss"] == issuer and query(location)["state"] == params["state"]


def test_every_login_gets_a_new_session_id(http, register, alice):
    first_party = register("--redirect-uri", REDIRECT, "--first-party", name="Own App")
    # A planted cookie (session fixation) is not adopted.
    replace_cookie(http, SESSION, "planted-by-an-attacker-0123456789abcdef")
    page, _, params = login_page(http, first_party)
    response = login(http, page)
    callback(response, params)
    first = set_cookie(response, SESSION)["value"]
    assert first != "planted-by-an-attacker-0123456789abcdef"

    page, _, params = login_page(http, first_party, prompt="login")
    response = login(http, page)
    callback(response, params)
    second = set_cookie(response, SESSION)["value"]
    assert second != first

    # The new cookie is a live session; the old value no longer is.
    response, _, params = start(http, first_party, prompt="none")
    callback(response, params)
    replace_cookie(http, SESSION, first)
    response, _, params = start(http, first_party, prompt="none")
    assert query(response.headers["location"])["error"] == "login_required"


# --- consent --------------------------------------------------------------------------------------


def consent_page(http, client: dict, **extra: str):  # type: ignore[no-untyped-def]
    page, verifier, params = login_page(http, client, **extra)
    response = login(http, page)
    assert response.headers["location"].startswith("/consent?interaction="), response.headers["location"]
    page = follow(http, response)
    assert page.status_code == 200, page.text
    return page, verifier, params


def test_consent_page_names_the_client_and_the_scopes_in_words(http, client):
    page, _, _ = consent_page(http, client, scope="openid profile email offline_access")
    assert page.headers["content-type"].startswith("text/html")
    assert "Photo App" in page.text
    for words in (
        "Know who you are",
        "See your name and username",
        "See your email address",
        "Stay connected when you are not using it",
    ):
        assert words in page.text
    assert "offline_access" not in page.text  # words, not scope tokens
    assert "alice" in page.text  # who is signed in
    [form] = forms(page.text)
    assert form["action"] == "/consent" and form["method"].lower() == "post"
    assert set(form["fields"]) == {"csrf_token", "interaction"}
    assert sorted(form["buttons"]) == [("decision", "allow"), ("decision", "deny")]
    csp = csp_directives(page)
    assert csp["frame-ancestors"] == ["'none'"]
    assert "https://app.example" in csp["form-action"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_consent_page_escapes_the_client_name(http, register, alice):
    evil = register("--redirect-uri", REDIRECT, name="<img src=x onerror=alert(1)>")
    page, _, _ = consent_page(http, evil)
    assert "<img src=x" not in page.text
    assert "&lt;img src=x" in page.text


def test_deny_sends_access_denied_back(http, client):
    page, _, params = consent_page(http, client)
    response = submit(http, page, decision="deny")
    assert response.status_code == 303
    result = query(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert result["error"] == "access_denied"
    assert result["state"] == params["state"]
    assert result["iss"] == ISSUER
    assert "code" not in result
    # Nothing was remembered: the next request asks again.
    response, _, _ = start(http, client)
    assert response.headers["location"].startswith("/consent?")


def test_consent_without_a_decision_is_refused(http, client):
    page, _, _ = consent_page(http, client)
    assert_error_page(submit(http, page))
    assert_error_page(submit(http, page, decision="maybe"))
    # The page can still be answered properly.
    assert "code" in query(submit(http, page, decision="allow").headers["location"])


def test_consent_post_needs_the_csrf_token(http, client):
    page, _, _ = consent_page(http, client)
    form = forms(page.text)[0]
    response = http.post(
        "/consent", data={"interaction": form["fields"]["interaction"], "decision": "allow"}, follow_redirects=False
    )
    assert_error_page(response, 403)


def test_consent_after_the_session_ended_asks_to_sign_in_again(http, client):
    page, _, params = consent_page(http, client)
    replace_cookie(http, SESSION, None)
    response = submit(http, page, decision="allow")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?interaction=")
    page = follow(http, response)
    response = login(http, page)
    # Signing in again still needs the decision.
    page = follow(http, response)
    callback(submit(http, page, decision="allow"), params)


def test_allow_returns_a_code_and_consent_is_remembered(http, client):
    page, _, params = consent_page(http, client)
    callback(submit(http, page, decision="allow"), params)
    # Same scopes: straight back with a code, no page at all.
    response, _, params = start(http, client)
    assert response.status_code == 302
    callback(response, params)
    # A subset also needs nothing.
    response, _, params = start(http, client, scope="openid email")
    callback(response, params)


def test_an_extra_scope_asks_again(http, client):
    page, _, params = consent_page(http, client, scope="openid profile email")
    callback(submit(http, page, decision="allow"), params)
    response, _, params = start(http, client, scope="openid profile email offline_access")
    assert response.headers["location"].startswith("/consent?")
    page = follow(http, response)
    assert "Stay connected" in page.text
    callback(submit(http, page, decision="allow"), params)
    # Now the union is remembered.
    response, _, params = start(http, client, scope="openid offline_access")
    callback(response, params)


def test_prompt_consent_always_asks(http, client):
    page, _, params = consent_page(http, client)
    callback(submit(http, page, decision="allow"), params)
    for _ in range(2):
        response, _, params = start(http, client, prompt="consent")
        assert response.headers["location"].startswith("/consent?")
        callback(submit(http, follow(http, response), decision="allow"), params)


def test_first_party_clients_never_ask(http, register, alice):
    first_party = register(
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--first-party",
        name="Own App",
    )
    page, _, params = login_page(http, first_party, scope="openid profile email offline_access")
    callback(login(http, page), params)
    response, _, params = start(http, first_party, prompt="consent")
    callback(response, params)


def test_consent_is_per_user(http, cli, client):
    create_user(cli, "bob", "bob@example.com", "Bob")
    page, _, params = consent_page(http, client)
    callback(submit(http, page, decision="allow"), params)
    page, _, params = login_page(http, client, prompt="login")
    response = login(http, page, "bob")
    assert response.headers["location"].startswith("/consent?")


def test_double_submitted_consent_does_not_yield_a_second_code(http, client):
    page, _, params = consent_page(http, client)
    first = submit(http, page, decision="allow")
    callback(first, params)
    replay = submit(http, page, decision="allow")
    assert_error_page(replay)
    assert "code=" not in replay.text
    # Nor can a replayed "deny" turn the finished request into an error for the client.
    assert_error_page(submit(http, page, decision="deny"))


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}, {"id_token_hint": "bob"}])
def test_going_straight_to_consent_does_not_skip_a_required_login(http, cli, client, clock, extra):
    if extra.get("id_token_hint") == "bob":
        create_user(cli, "bob", "bob@example.com", "Bob")
        result, verifier, _ = sign_in(http, client, username="bob")
        extra = {"id_token_hint": tokens_for(http, client, result["code"], verifier)["id_token"]}
    clock.advance(-5)
    sign_in(http, client, prompt="login")  # alice has a session and has consented, 5 s ago
    clock.advance(5)
    response, _, params = start(http, client, **extra)
    login_url = response.headers["location"]
    assert login_url.startswith("/login?interaction=")
    # Skip the login page: the consent step of the same interaction sends the browser back to it, and so
    # does an "allow" posted there (allowing is not signing in): no code.
    skipped = http.get(login_url.replace("/login", "/consent"), follow_redirects=False)
    assert skipped.status_code == 303 and skipped.headers["location"] == login_url
    interaction = query(login_url)["interaction"]
    data = {"interaction": interaction, "decision": "allow", "csrf_token": http.cookies[CSRF]}
    response = http.post("/consent", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == login_url
    response = login(http, follow(http, response), "bob" if "id_token_hint" in extra else "alice")
    if response.headers["location"].startswith("/consent?"):  # bob has not consented yet
        response = submit(http, follow(http, response), decision="allow")
    callback(response, params)


def test_consent_posted_before_the_sign_in_grants_nothing(http, register, client):
    """The interaction waits on the login page (Step.LOGIN): /consent answers with that page, records no
    consent and issues no code, even for a browser with a session (alice signed in to another client)."""
    sign_in(http, client)
    other = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="Other App")
    response, _, _ = start(http, other, prompt="login")
    login_url = response.headers["location"]
    assert login_url.startswith("/login?interaction=")
    data = {"interaction": query(login_url)["interaction"], "decision": "allow", "csrf_token": http.cookies[CSRF]}
    for _ in range(2):
        answer = http.post("/consent", data=data, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == login_url
        assert "code=" not in answer.text
    # Nothing was granted: the other app still needs alice's consent.
    response, _, _ = start(http, other, prompt="none")
    assert query(response.headers["location"])["error"] == "consent_required"


# --- the code, the tokens, the ID token -----------------------------------------------------------


def test_code_exchange_returns_verified_tokens(http, client, alice):
    page, verifier, params = consent_page(http, client)
    result = callback(submit(http, page, decision="allow"), params)
    assert set(result) == {"code", "state", "iss"}
    tokens = tokens_for(http, client, result["code"], verifier)
    assert tokens["token_type"] == "Bearer"
    assert tokens["access_token"] and tokens["refresh_token"]
    assert tokens["expires_in"] > 0
    assert tokens["scope"].split() == ["openid", "profile", "email"]
    header, _ = jwt_parts(tokens["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = id_token_claims(http, tokens["id_token"])
    now = time.time()
    assert claims["iss"] == ISSUER
    assert claims["sub"] == alice["id"]
    assert claims["aud"] == client["client_id"]
    assert claims["exp"] > now
    assert abs(claims["iat"] - now) < 60
    assert abs(claims["auth_time"] - now) < 60 and claims["auth_time"] <= claims["iat"]
    assert claims["nonce"] == params["nonce"]
    assert claims["sid"] and claims["sid"] != http.cookies[SESSION]  # the public sid is not the cookie
    assert claims["acr"]
    assert claims["amr"] == ["pwd"]
    from authserver.oauth.tokens import half_hash

    assert claims["at_hash"] == half_hash(tokens["access_token"])
    # With response_type=code, the scope claims are for /userinfo, not the ID token.
    assert "email" not in claims
    info = http.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == alice["id"]
    assert info.json()["email"] == "alice@example.com"
    assert info.json()["name"] == "Alice"


def test_id_token_signature_is_really_checked(http, client):
    page, verifier, params = consent_page(http, client)
    token = tokens_for(http, client, callback(submit(http, page, decision="allow"), params)["code"], verifier)[
        "id_token"
    ]
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    with pytest.raises(BadSignatureError):
        id_token_claims(http, tampered)


def test_same_session_same_sid_and_auth_time(http, client):
    page, verifier, params = consent_page(http, client)
    code = callback(submit(http, page, decision="allow"), params)["code"]
    first = id_token_of(http, client, code, verifier)
    response, verifier, params = start(http, client)
    second = id_token_of(http, client, callback(response, params)["code"], verifier)
    assert second["sid"] == first["sid"]
    assert second["auth_time"] == first["auth_time"]
    assert second["nonce"] == params["nonce"] != first["nonce"]


def test_no_refresh_token_without_the_refresh_token_grant(http, register, alice):
    plain = register("--redirect-uri", REDIRECT, "--first-party", name="No Refresh")
    result, verifier, _ = sign_in(http, plain)
    tokens = tokens_for(http, plain, result["code"], verifier)
    assert "refresh_token" not in tokens
    assert tokens["id_token"]


def test_public_client_full_flow(http, register, alice):
    spa = register("--public", "--redirect-uri", REDIRECT, name="SPA")
    result, verifier, params = sign_in(http, spa)
    assert result["state"] == params["state"] and result["iss"] == ISSUER
    tokens = tokens_for(http, spa, result["code"], verifier)
    assert id_token_claims(http, tokens["id_token"])["aud"] == spa["client_id"]


def test_the_code_needs_the_right_verifier(http, client):
    result, _verifier, _ = sign_in(http, client)
    response = exchange(http, client, result["code"], pkce_pair()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --- prompt=none ----------------------------------------------------------------------------------


def test_prompt_none_without_a_session_is_login_required(http, client):
    response, _, params = start(http, client, prompt="none")
    assert response.status_code == 302
    result = query(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert result["error"] == "login_required"
    assert result["state"] == params["state"] and result["iss"] == ISSUER


def test_prompt_none_with_a_session_but_no_consent_is_consent_required(http, register, client):
    own = register("--redirect-uri", REDIRECT, "--first-party", name="Own App")
    sign_in(http, own)  # a session, but no consent for `client`
    response, _, params = start(http, client, prompt="none")
    result = query(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert result["error"] == "consent_required"
    assert result["state"] == params["state"] and result["iss"] == ISSUER


def test_prompt_none_with_session_and_consent_returns_a_code_without_a_page(http, client):
    sign_in(http, client)
    response, verifier, params = start(http, client, prompt="none")
    assert response.status_code == 302
    result = callback(response, params)
    tokens_for(http, client, result["code"], verifier)
    # More scopes than granted: consent_required, still no page.
    response, _, _ = start(http, client, prompt="none", scope="openid offline_access")
    assert query(response.headers["location"])["error"] == "consent_required"


def test_prompt_none_after_the_user_was_disabled_is_login_required(http, cli, client):
    sign_in(http, client)
    assert cli("user", "disable", "alice").code == 0
    response, _, _ = start(http, client, prompt="none")
    assert query(response.headers["location"])["error"] == "login_required"


def test_prompt_none_form_post_error_is_a_form(http, client):
    response, _, params = start(http, client, prompt="none", response_mode="form_post")
    assert response.status_code == 200
    [form] = forms(response.text)
    assert form["action"] == REDIRECT
    assert form["fields"]["error"] == "login_required"
    assert form["fields"]["state"] == params["state"] and form["fields"]["iss"] == ISSUER


# --- re-authentication: prompt=login, max_age -----------------------------------------------------


@pytest.mark.parametrize("prompt", ["login", "select_account", "login consent"])
def test_prompt_login_forces_the_login_page_even_with_a_session(http, client, prompt):
    sign_in(http, client)
    page, verifier, params = login_page(http, client, prompt=prompt)
    assert forms(page.text)[0]["fields"]["username"] == ""
    response = login(http, page)
    if "consent" in prompt:
        response = submit(http, follow(http, response), decision="allow")
    result = callback(response, params)
    tokens_for(http, client, result["code"], verifier)


def test_reauthentication_gives_a_newer_auth_time(http, client, clock):
    clock.advance(-100)
    first, verifier, _ = sign_in(http, client)
    old = id_token_of(http, client, first["code"], verifier)
    clock.advance(100)

    # The sign-in is 100 s old: max_age=3600 accepts it, max_age=60 does not.
    response, verifier, params = start(http, client, max_age="3600")
    claims = id_token_of(http, client, callback(response, params)["code"], verifier)
    assert claims["auth_time"] == old["auth_time"]

    page, verifier, params = login_page(http, client, max_age="60")
    result = callback(login(http, page), params)
    new = id_token_of(http, client, result["code"], verifier)
    assert new["auth_time"] >= old["auth_time"] + 99
    assert abs(new["auth_time"] - time.time()) < 60
    assert new["sid"] == old["sid"]  # the same user re-authenticating keeps the logical session


def test_prompt_login_gives_a_newer_auth_time(http, client, clock):
    clock.advance(-100)
    first, verifier, _ = sign_in(http, client)
    old = id_token_of(http, client, first["code"], verifier)
    clock.advance(100)
    page, verifier, params = login_page(http, client, prompt="login")
    new = id_token_of(http, client, callback(login(http, page), params)["code"], verifier)
    assert new["auth_time"] >= old["auth_time"] + 99


def test_max_age_zero_forces_login_after_a_second(http, client, clock):
    clock.advance(-5)
    sign_in(http, client)
    clock.advance(5)
    page, verifier, params = login_page(http, client, max_age="0")
    result = callback(login(http, page), params)
    claims = id_token_of(http, client, result["code"], verifier)
    assert "auth_time" in claims


def test_max_age_zero_forces_login_even_right_after_signing_in(http, client, clock):
    clock.freeze(float(int(time.time())))  # the sign-in and the request below in the same second
    sign_in(http, client)
    response, _, _ = start(http, client, max_age="0")
    assert response.headers["location"].startswith("/login?")


# --- id_token_hint --------------------------------------------------------------------------------


def test_id_token_hint(http, cli, client, alice):
    create_user(cli, "bob", "bob@example.com", "Bob")
    # Bob signs in first (to get an ID token for him), then Alice takes over this browser.
    bob_result, verifier, _ = sign_in(http, client, username="bob")
    bob_token = tokens_for(http, client, bob_result["code"], verifier)["id_token"]
    alice_result, verifier, _ = sign_in(http, client, prompt="login")
    alice_token = tokens_for(http, client, alice_result["code"], verifier)["id_token"]

    # Hint for the signed-in user + prompt=none: a code, no page.
    response, verifier, params = start(http, client, prompt="none", id_token_hint=alice_token)
    code = callback(response, params)["code"]
    assert id_token_of(http, client, code, verifier)["sub"] == alice["id"]

    # Hint for someone else: login_required with prompt=none, the login page otherwise.
    response, _, params = start(http, client, prompt="none", id_token_hint=bob_token)
    result = query(response.headers["location"])
    assert result["error"] == "login_required" and result["state"] == params["state"]
    page, _, params = login_page(http, client, id_token_hint=bob_token)
    response = login(http, page, "bob")
    callback(response, params)


def test_expired_id_token_is_still_a_valid_hint(http, client, clock):
    sign_in(http, client)
    # An ID token issued long ago (expired by now).
    response, verifier, params = start(http, client)
    code = callback(response, params)["code"]
    clock.advance(-100_000)  # the token endpoint issues it "long ago"
    token = tokens_for(http, client, code, verifier)["id_token"]
    clock.advance(100_000)
    assert jwt_parts(token)[1]["exp"] < time.time()
    response, _, params = start(http, client, prompt="none", id_token_hint=token)
    callback(response, params)


# --- response_mode=form_post ----------------------------------------------------------------------


def test_form_post_success(http, client):
    page, verifier, params = consent_page(http, client, response_mode="form_post")
    response = submit(http, page, decision="allow")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    [form] = forms(response.text)
    assert form["action"] == REDIRECT and form["method"].lower() == "post"
    assert set(form["fields"]) == {"code", "state", "iss"}
    assert form["fields"]["state"] == params["state"] and form["fields"]["iss"] == ISSUER
    assert '<script src="/static/form_post.js"></script>' in response.text
    assert "form-action 'self' https://app.example" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    tokens_for(http, client, form["fields"]["code"], verifier)

    script = http.get("/static/form_post.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "form-post" in script.text and ".submit()" in script.text
    assert 'id="form-post"' in response.text


def test_form_post_from_authorize_with_a_session(http, client):
    sign_in(http, client)
    response, _, params = start(http, client, response_mode="form_post")
    assert response.status_code == 200
    fields = forms(response.text)[0]["fields"]
    assert fields["code"] and fields["state"] == params["state"]


def test_form_post_deny(http, client):
    page, _, params = consent_page(http, client, response_mode="form_post")
    response = submit(http, page, decision="deny")
    fields = forms(response.text)[0]["fields"]
    assert fields["error"] == "access_denied" and fields["state"] == params["state"]
    assert "code" not in fields


# --- the claims parameter (OIDC Core §5.5) --------------------------------------------------------


def test_claims_parameter_puts_email_in_the_id_token(http, client):
    claims = json.dumps({"id_token": {"email": {"essential": True}}})
    result, verifier, _ = sign_in(http, client, claims=claims)
    id_claims = id_token_of(http, client, result["code"], verifier)
    assert id_claims["email"] == "alice@example.com"
    assert "name" not in id_claims


def test_claims_parameter_releases_email_at_userinfo_with_openid_only(http, client):
    claims = json.dumps({"userinfo": {"email": None}})
    page, verifier, params = consent_page(http, client, scope="openid", claims=claims)
    assert "your email address" in page.text  # the consent page says what the claims request adds
    result = callback(submit(http, page, decision="allow"), params)
    tokens = tokens_for(http, client, result["code"], verifier)
    assert tokens["scope"] == "openid"
    info = http.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}).json()
    assert info["email"] == "alice@example.com"
    assert "name" not in info and "preferred_username" not in info


def test_without_claims_openid_alone_releases_no_email(http, client):
    result, verifier, _ = sign_in(http, client, scope="openid")
    tokens = tokens_for(http, client, result["code"], verifier)
    info = http.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}).json()
    assert set(info) == {"sub"}


def test_claims_request_for_a_specific_sub_is_honoured(http, client):
    sign_in(http, client)  # alice has a session and consented
    claims = json.dumps({"id_token": {"sub": {"value": "someone-else"}}})
    response, _, _ = start(http, client, prompt="none", claims=claims)
    assert query(response.headers["location"]).get("error") == "login_required"


def test_claims_beyond_the_remembered_consent_ask_again(http, client):
    sign_in(http, client, scope="openid")  # consented to "openid" only
    response, _, _ = start(http, client, scope="openid", claims=json.dumps({"userinfo": {"email": None}}))
    assert response.headers["location"].startswith("/consent?")
