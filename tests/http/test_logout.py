"""GET/POST /logout: OpenID Connect RP-Initiated Logout 1.0."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.helpers import (
    authorize,
    authorize_params,
    basic,
    create_user,
    exchange,
    forms,
    pkce_pair,
    query,
    sign_in,
    submit,
)

REDIRECT = "https://app.example/cb"
BYE = "https://app.example/bye"
SESSION = "as_session"
SIGN_IN_CLIENT = (
    "--grant-type",
    "authorization_code",
    "--grant-type",
    "refresh_token",
    "--redirect-uri",
    REDIRECT,
    "--post-logout-redirect-uri",
    BYE,
)


@pytest.fixture
def app(register) -> dict:
    return register(*SIGN_IN_CLIENT, name="app")


def signed_in(http, client: dict, username: str = "alice") -> dict:  # type: ignore[no-untyped-def]
    """Sign in through the browser flow; return the token response (with the ID token)."""
    callback, verifier, _ = sign_in(http, client, username=username)
    response = exchange(http, client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    assert http.cookies.get(SESSION)
    return response.json()


def logout(http, method: str = "GET", **params: str):  # type: ignore[no-untyped-def]
    if method == "GET":
        return http.get("/logout?" + urlencode(params), follow_redirects=False)
    return http.post("/logout", data=params, follow_redirects=False)


def silent_authorize(http, client: dict) -> dict:  # type: ignore[no-untyped-def]
    """prompt=none: a code while the session lives, login_required once it has ended."""
    _, challenge = pkce_pair()
    response = authorize(http, authorize_params(client, challenge, prompt="none"))
    assert response.status_code in (302, 303), response.text
    return query(response.headers["location"])


def assert_session_ended(http, client: dict) -> None:  # type: ignore[no-untyped-def]
    assert silent_authorize(http, client).get("error") == "login_required"


def assert_session_alive(http, client: dict) -> None:  # type: ignore[no-untyped-def]
    assert "code" in silent_authorize(http, client)


def assert_session_cookie_cleared(response) -> None:  # type: ignore[no-untyped-def]
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION + "=")]
    assert len(cookies) == 1, response.headers.get_list("set-cookie")
    lowered = cookies[0].lower()
    assert "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered
    assert "path=/" in lowered


def assert_error_page(response, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def assert_confirmation_page(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    form = forms(response.text)[0]
    assert form["action"] == "/logout" and form["method"].lower() == "post"
    assert form["fields"]["csrf_token"]
    assert ("confirm", "yes") in form["buttons"]
    return form


# --- discovery ----------------------------------------------------------------------------------------


def test_discovery_names_the_end_session_endpoint(http):
    metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["end_session_endpoint"] == "http://testserver/logout"


# --- logout with an id_token_hint ----------------------------------------------------------------------


def test_id_token_hint_logs_out_and_returns_to_the_app(http, app, alice):
    tokens = signed_in(http, app)
    assert_session_alive(http, app)
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE, state="st&te =1")
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(BYE + "?")
    assert query(response.headers["location"]) == {"state": "st&te =1"}
    assert_session_cookie_cleared(response)
    assert http.cookies.get(SESSION) is None
    assert_session_ended(http, app)


def test_the_session_is_ended_on_the_server_not_just_the_cookie(http, app, alice):
    tokens = signed_in(http, app)
    stolen_cookie = http.cookies.get(SESSION)
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE)
    assert response.status_code == 303
    http.cookies.set(SESSION, stolen_cookie)
    assert_session_ended(http, app)


def test_id_token_hint_without_state_redirects_without_a_query(http, app, alice):
    tokens = signed_in(http, app)
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == BYE


def test_registered_uri_with_a_query_keeps_it(http, register, alice):
    client = register(
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        BYE + "?from=op",
        name="q",
    )
    tokens = signed_in(http, client)
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE + "?from=op", state="s")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == BYE + "?from=op&state=s"


def test_id_token_hint_alone_shows_the_signed_out_page(http, app, alice):
    tokens = signed_in(http, app)
    response = logout(http, id_token_hint=tokens["id_token"], state="ignored")
    assert response.status_code == 200, response.text
    assert "signed out" in response.text.lower()
    assert_session_cookie_cleared(response)
    assert_session_ended(http, app)


def test_id_token_hint_by_post(http, app, alice):
    tokens = signed_in(http, app)
    response = logout(http, "POST", id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE, state="s")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == BYE + "?state=s"
    assert_session_ended(http, app)


def test_expired_id_token_is_still_a_valid_hint(make_app, app, alice, clock):
    # OIDC RP-Initiated Logout §2 / Core §3.1.2.1: the OP need not check the hint's expiry.
    http = make_app(id_token_ttl=1)
    tokens = signed_in(http, app)
    clock.advance(2)
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE, state="s")
    assert response.status_code == 303, response.text
    assert_session_ended(http, app)


def test_hint_and_matching_client_id(http, app, alice):
    tokens = signed_in(http, app)
    response = logout(
        http, id_token_hint=tokens["id_token"], client_id=app["client_id"], post_logout_redirect_uri=BYE, state="s"
    )
    assert response.status_code == 303, response.text


def test_hint_and_a_different_client_id_is_an_error(http, app, register, alice):
    other = register(*SIGN_IN_CLIENT, name="other")
    tokens = signed_in(http, app)
    response = logout(
        http, id_token_hint=tokens["id_token"], client_id=other["client_id"], post_logout_redirect_uri=BYE
    )
    assert_error_page(response)
    assert_session_alive(http, app)


def test_hint_without_a_session_still_returns_to_the_app(http, app, alice):
    tokens = signed_in(http, app)
    http.cookies.clear()
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE, state="s")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == BYE + "?state=s"


# --- post_logout_redirect_uri is never an open redirect ---------------------------------------------


@pytest.mark.parametrize("uri", ["https://evil.example/bye", BYE + "/", REDIRECT])
def test_unregistered_post_logout_redirect_uri_is_an_error_page(http, app, alice, uri):
    tokens = signed_in(http, app)
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri, state="s")
    assert_error_page(response)
    assert "evil" not in response.headers.get("location", "")
    # Nothing happened: the user is still signed in.
    assert_session_alive(http, app)


def test_uri_registered_for_another_client_is_an_error_page(http, app, register, alice):
    register(*SIGN_IN_CLIENT[:-1], "https://other.example/bye", name="other")
    tokens = signed_in(http, app)
    response = logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri="https://other.example/bye")
    assert_error_page(response)


def test_uri_without_hint_or_client_id_is_an_error_page(http, app, alice):
    signed_in(http, app)
    assert_error_page(logout(http, post_logout_redirect_uri=BYE, state="s"))
    assert_session_alive(http, app)


def test_uri_with_an_unverifiable_hint_is_an_error_page(http, app, alice):
    tokens = signed_in(http, app)
    # An access token is not an ID token; neither is garbage.
    for hint in (tokens["access_token"], "garbage"):
        assert_error_page(logout(http, id_token_hint=hint, post_logout_redirect_uri=BYE))
    assert_session_alive(http, app)


def test_uri_with_unknown_client_id_is_an_error_page(http, app, alice):
    signed_in(http, app)
    assert_error_page(logout(http, client_id="no-such-client", post_logout_redirect_uri=BYE))


@pytest.mark.parametrize("named_by", ["id_token_hint", "client_id", "both"])
def test_a_disabled_clients_uri_is_not_honoured(http, cli, app, alice, named_by):
    """Issue 9 finding 13: disabling a client stops every redirect to it, logout's included."""
    tokens = signed_in(http, app)
    assert cli("client", "disable", app["client_id"]).code == 0
    naming = {
        "id_token_hint": {"id_token_hint": tokens["id_token"]},
        "client_id": {"client_id": app["client_id"]},
        "both": {"id_token_hint": tokens["id_token"], "client_id": app["client_id"]},
    }[named_by]
    for method in ("GET", "POST"):
        response = logout(http, method, **naming, post_logout_redirect_uri=BYE, state="s")
        assert_error_page(response)
        assert "not registered" in response.text
    assert http.cookies.get(SESSION), "nothing happened: still signed in"
    # Without a return address the user can still sign out; the page names no disabled application.
    page = logout(http, **naming)
    if named_by == "client_id":
        form = assert_confirmation_page(page)
        assert "client_id" not in form["fields"] and ">app<" not in page.text
        done = submit(http, page, confirm="yes")
    else:
        done = page
    assert done.status_code == 200, done.text
    assert "location" not in done.headers
    assert "signed out" in done.text.lower()
    # Enabled again, it is honoured again.
    assert cli("client", "enable", app["client_id"]).code == 0
    back = logout(http, client_id=app["client_id"], post_logout_redirect_uri=BYE, state="s")
    assert back.status_code == 303 and back.headers["location"] == BYE + "?state=s"


def test_unregistered_uri_is_an_error_page_even_without_a_session(http, app):
    response = logout(http, client_id=app["client_id"], post_logout_redirect_uri="https://evil.example/")
    assert_error_page(response)


# --- confirmation (no usable hint) ----------------------------------------------------------------------


def test_client_id_without_hint_asks_for_confirmation(http, app, alice):
    signed_in(http, app)
    page = logout(http, client_id=app["client_id"], post_logout_redirect_uri=BYE, state="s1")
    form = assert_confirmation_page(page)
    assert form["fields"]["client_id"] == app["client_id"]
    assert form["fields"]["post_logout_redirect_uri"] == BYE
    assert form["fields"]["state"] == "s1"
    assert "app" in page.text  # the client's name
    assert_session_alive(http, app)  # a GET alone never logs out

    done = submit(http, page, confirm="yes")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == BYE + "?state=s1"
    assert_session_cookie_cleared(done)
    assert_session_ended(http, app)


def test_no_params_with_a_session_asks_then_shows_the_signed_out_page(http, app, alice):
    signed_in(http, app)
    page = logout(http)
    assert_confirmation_page(page)
    done = submit(http, page, confirm="yes")
    assert done.status_code == 200, done.text
    assert "signed out" in done.text.lower()
    assert_session_ended(http, app)


def test_confirmation_without_csrf_token_is_refused(http, app, alice):
    signed_in(http, app)
    page = logout(http, client_id=app["client_id"], post_logout_redirect_uri=BYE, state="s")
    fields = dict(assert_confirmation_page(page)["fields"])
    del fields["csrf_token"]
    response = http.post("/logout", data={**fields, "confirm": "yes"}, follow_redirects=False)
    assert_error_page(response, 403)
    assert_session_alive(http, app)


def test_confirmation_with_a_wrong_csrf_token_is_refused(http, app, alice):
    signed_in(http, app)
    page = logout(http, client_id=app["client_id"])
    response = submit(http, page, confirm="yes", csrf_token="x" * 43)
    assert_error_page(response, 403)
    assert_session_alive(http, app)


def test_cross_site_post_without_the_csrf_cookie_is_refused(http, app, alice):
    signed_in(http, app)
    page = logout(http, client_id=app["client_id"])
    fields = assert_confirmation_page(page)["fields"]
    http.cookies.delete("as_csrf")
    response = http.post("/logout", data={**fields, "confirm": "yes"}, follow_redirects=False)
    assert_error_page(response, 403)
    assert_session_alive(http, app)


def test_post_without_confirm_only_asks_again(http, app, alice):
    signed_in(http, app)
    page = logout(http, client_id=app["client_id"])
    fields = assert_confirmation_page(page)["fields"]
    response = http.post("/logout", data=fields, follow_redirects=False)
    assert_confirmation_page(response)
    assert_session_alive(http, app)


def test_no_session_and_no_params_shows_the_signed_out_page(http):
    response = logout(http)
    assert response.status_code == 200, response.text
    assert "signed out" in response.text.lower()
    assert not forms(response.text)


def test_no_session_with_client_id_and_uri_redirects(http, app):
    response = logout(http, client_id=app["client_id"], post_logout_redirect_uri=BYE, state="s")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == BYE + "?state=s"


def test_confirmation_page_escapes_what_it_echoes(http, app, alice):
    signed_in(http, app)
    state = '"><script>alert(1)</script>'
    page = logout(http, client_id=app["client_id"], post_logout_redirect_uri=BYE, state=state)
    form = assert_confirmation_page(page)
    assert "<script>alert(1)" not in page.text
    assert form["fields"]["state"] == state
    done = submit(http, page, confirm="yes")
    assert query(done.headers["location"]) == {"state": state}


def test_garbage_hint_with_a_session_asks_for_confirmation(http, app, alice):
    signed_in(http, app)
    page = logout(http, id_token_hint="garbage")
    form = assert_confirmation_page(page)
    assert "id_token_hint" not in form["fields"]
    assert_session_alive(http, app)


@pytest.fixture
def bobs_id_token_and_alices_session(http, cli, app, alice) -> str:
    create_user(cli, "bob")
    bob = signed_in(http, app, username="bob")
    http.cookies.clear()  # another browser, or bob signed out and alice signed in
    signed_in(http, app, username="alice")
    return bob["id_token"]


def test_hint_for_another_user_asks_for_confirmation(http, app, bobs_id_token_and_alices_session):
    page = logout(http, id_token_hint=bobs_id_token_and_alices_session, post_logout_redirect_uri=BYE, state="s")
    assert_confirmation_page(page)
    assert_session_alive(http, app)


def test_confirming_after_a_hint_for_another_user_returns_to_the_app(http, app, bobs_id_token_and_alices_session):
    page = logout(http, id_token_hint=bobs_id_token_and_alices_session, post_logout_redirect_uri=BYE, state="s")
    assert_confirmation_page(page)
    done = submit(http, page, confirm="yes")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == BYE + "?state=s"
    assert_session_ended(http, app)


# --- page headers ---------------------------------------------------------------------------------------


def assert_page_headers(response) -> str:  # type: ignore[no-untyped-def]
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "base-uri 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    return csp


def test_confirmation_page_headers(http, app, alice):
    signed_in(http, app)
    page = logout(http, client_id=app["client_id"], post_logout_redirect_uri=BYE)
    csp = assert_page_headers(page)
    # The form may post to us, and the redirect that follows may go to the app.
    assert "form-action 'self' https://app.example" in csp


def test_confirmation_page_without_redirect_only_posts_to_self(http, app, alice):
    signed_in(http, app)
    csp = assert_page_headers(logout(http))
    assert "form-action 'self';" in csp


def test_signed_out_and_error_page_headers(http, app):
    assert_page_headers(logout(http))
    assert_page_headers(logout(http, post_logout_redirect_uri=BYE))


# --- what logout ends ----------------------------------------------------------------------------------


def introspect(http, resource_server: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect",
        data={"token": token},
        headers=basic(resource_server["client_id"], resource_server["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_logout_revokes_the_session_bound_grant(http, app, register, alice):
    tokens = signed_in(http, app)  # openid profile email: no offline_access
    auth = {"Authorization": "Bearer " + tokens["access_token"]}
    assert http.get("/userinfo", headers=auth).status_code == 200
    assert logout(http, id_token_hint=tokens["id_token"]).status_code == 200
    assert introspect(http, app, tokens["access_token"]) == {"active": False}
    assert http.get("/userinfo", headers=auth).status_code == 401


def test_logout_revokes_access_tokens_of_a_client_without_refresh_tokens(http, register, alice):
    client = register(
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        BYE,
        name="norefresh",
    )
    tokens = signed_in(http, client)
    assert "refresh_token" not in tokens
    assert introspect(http, client, tokens["access_token"])["active"] is True
    assert logout(http, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE).status_code == 303
    assert introspect(http, client, tokens["access_token"]) == {"active": False}
