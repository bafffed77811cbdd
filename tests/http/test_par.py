"""Pushed authorization requests (RFC 9126) through HTTP: POST /par, then /authorize with request_uri."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest

from tests.helpers import authorize_params, basic, exchange, follow, forms, pkce_pair, query
from tests.http.par import PREFIX, REDIRECT, SIGN_IN, authorize_uri, error_page, finish, push


@pytest.fixture
def app(register) -> dict:
    return register(*SIGN_IN, name="app")


@pytest.fixture
def spa(register) -> dict:
    return register(*SIGN_IN, "--public", name="spa")


@pytest.fixture
def strict(register) -> dict:
    return register(*SIGN_IN, "--require-par", name="strict")


def pushed(http, client: dict, **extra: str) -> tuple[str, str, dict]:
    """Push a valid request; (request_uri, code_verifier, pushed params)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, **extra)
    response = push(http, client, params)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["expires_in"] == 60
    assert body["request_uri"].startswith(PREFIX)
    assert response.headers["cache-control"] == "no-store"
    return body["request_uri"], verifier, params


def test_pushed_request_signs_in_with_only_the_request_uri(http, app, alice):
    request_uri, verifier, params = pushed(http, app)
    callback = finish(http, authorize_uri(http, app["client_id"], request_uri))
    assert callback["state"] == params["state"]
    token = exchange(http, app, callback["code"], verifier)
    assert token.status_code == 200, token.text


def test_public_client_pushes_with_its_client_id(http, spa, alice):
    request_uri, verifier, _ = pushed(http, spa)
    callback = finish(http, authorize_uri(http, spa["client_id"], request_uri))
    assert exchange(http, spa, callback["code"], verifier).status_code == 200


def test_front_channel_parameters_are_ignored(http, app, alice):
    # RFC 9126 §4: only the pushed parameters count; a state or scope in the query changes nothing.
    request_uri, _, params = pushed(http, app)
    response = authorize_uri(http, app["client_id"], request_uri, state="forged", redirect_uri="https://evil.example/")
    callback = finish(http, response)
    assert callback["state"] == params["state"]


def test_request_uri_is_single_use(http, app, alice):
    request_uri, _, _ = pushed(http, app)
    first = authorize_uri(http, app["client_id"], request_uri)
    assert first.status_code == 302
    again = authorize_uri(http, app["client_id"], request_uri)
    assert "invalid_request_uri" in error_page(again)


def test_request_uri_is_bound_to_its_client(http, app, register, alice):
    other = register(*SIGN_IN, name="other")
    request_uri, _, _ = pushed(http, app)
    assert "another client" in error_page(authorize_uri(http, other["client_id"], request_uri))
    # The attempt did not spend it: the rightful client still signs in with it.
    assert authorize_uri(http, app["client_id"], request_uri).status_code == 302


def test_request_uri_expires_after_60_seconds(http, app, clock):
    request_uri, _, _ = pushed(http, app)
    clock.advance(61)
    assert "expired" in error_page(authorize_uri(http, app["client_id"], request_uri))


def test_unknown_and_foreign_request_uris_are_refused(http, app):
    for uri in (PREFIX + "made-up", "https://app.example/request.jwt", PREFIX, PREFIX + "x" * 300):
        assert "invalid_request_uri" in error_page(authorize_uri(http, app["client_id"], uri))


def test_bad_request_uri_goes_back_to_a_registered_outer_redirect_uri(http, app):
    response = authorize_uri(http, app["client_id"], PREFIX + "made-up", redirect_uri=REDIRECT, state="s1")
    assert response.status_code == 302
    result = query(response.headers["location"])
    assert (result["error"], result["state"]) == ("invalid_request_uri", "s1")


def test_request_uri_needs_client_id(http, app):
    request_uri, _, _ = pushed(http, app)
    response = http.get("/authorize?" + urlencode({"request_uri": request_uri}), follow_redirects=False)
    error_page(response)


def test_concurrent_redemptions_of_one_request_uri_only_one_wins(http, app):
    request_uri, _, _ = pushed(http, app)
    results: list[int] = []

    def redeem() -> None:
        results.append(authorize_uri(http, app["client_id"], request_uri).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [302] + [400] * 5


# --- validation at push time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"request_uri": PREFIX + "nested"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"resource": "https://unregistered.example"}, "invalid_target"),
    ],
)
def test_push_validates_like_authorize(http, app, override, error):
    params = authorize_params(app, pkce_pair()[1], **override)
    response = push(http, app, params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_push_authenticates_like_the_token_endpoint(http, app):
    params = authorize_params(app, pkce_pair()[1])
    wrong = http.post("/par", data=params, headers=basic(app["client_id"], "wrong-secret"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert "www-authenticate" in wrong.headers
    # A confidential client naming itself without credentials is not authenticated.
    bare = push(http, app, params, auth=False)
    assert bare.status_code == 401
    post = http.post("/par", data={**params, "client_secret": app["client_secret"]})
    assert post.status_code == 401  # registered for client_secret_basic, not _post
    assert post.json()["error"] == "invalid_client"


def test_push_client_id_must_match_the_authenticated_client(http, app, register):
    other = register(*SIGN_IN, name="other")
    params = authorize_params(other, pkce_pair()[1])
    response = http.post("/par", data=params, headers=basic(app["client_id"], app["client_secret"]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_push_needs_a_form_post(http, app):
    assert http.get("/par").status_code == 405
    response = http.post(
        "/par", json={"client_id": app["client_id"]}, headers=basic(app["client_id"], app["client_secret"])
    )
    assert response.status_code == 400


# --- requiring PAR ---------------------------------------------------------------------------


def test_client_that_requires_par_refuses_plain_requests(http, strict, alice):
    params = authorize_params(strict, pkce_pair()[1])
    response = http.get("/authorize?" + urlencode(params), follow_redirects=False)
    assert response.status_code == 302
    result = query(response.headers["location"])
    assert result["error"] == "invalid_request"
    assert "pushed" in result["error_description"]
    request_uri, verifier, _ = pushed(http, strict)
    callback = finish(http, authorize_uri(http, strict["client_id"], request_uri))
    assert exchange(http, strict, callback["code"], verifier).status_code == 200


def test_global_setting_requires_par_for_every_client(make_app, env, app, alice):
    http = make_app(require_pushed_authorization_requests=True)
    assert http.get("/.well-known/openid-configuration").json()["require_pushed_authorization_requests"] is True
    response = http.get("/authorize?" + urlencode(authorize_params(app, pkce_pair()[1])), follow_redirects=False)
    assert query(response.headers["location"])["error"] == "invalid_request"
    request_uri, _, _ = pushed(http, app)
    assert authorize_uri(http, app["client_id"], request_uri).status_code == 302


def test_cli_shows_the_flag(cli, strict):
    shown = cli("client", "show", strict["client_id"], "--json").json()
    assert shown["require_pushed_authorization_requests"] is True
    assert strict["require_pushed_authorization_requests"] is True


def test_consent_page_form_still_works_after_pushed_request(http, app, alice):
    # The pushed request goes through the normal pages: the login form is the usual one.
    request_uri, _, _ = pushed(http, app)
    page = follow(http, authorize_uri(http, app["client_id"], request_uri))
    assert "password" in forms(page.text)[0]["fields"]
