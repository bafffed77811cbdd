"""GET/POST /authorize: which failures are a page and which go back to the client.

Until client_id and redirect_uri are proven, every failure is an HTML error page and never a
redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2: no open redirector). After that, errors go back to
the redirect URI with `error`, `state` and `iss` (RFC 9207), as a query or as an auto-submitting
form (OAuth 2.0 Form Post Response Mode).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest

from tests.helpers import (
    PASSWORD,
    authorize,
    authorize_params,
    client_token,
    exchange,
    forms,
    pkce_pair,
    query,
    sign_in,
    submit,
)

REDIRECT = "https://app.example/cb"
ISSUER = "http://testserver"


@pytest.fixture
def client(register):
    return register(
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        name="Photo App",
    )


@pytest.fixture
def challenge():
    return pkce_pair()[1]


def get(http, pairs):  # type: ignore[no-untyped-def]
    """GET /authorize with a raw list of pairs (so parameters can be repeated)."""
    return http.get("/authorize?" + urlencode(pairs), follow_redirects=False)


def assert_error_page(response, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    # The page has no form that could carry anything to the (unverified) redirect URI.
    assert not any((f["action"] or "").startswith("https://app.example") for f in forms(response.text))


def set_cookie_names(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")}


def assert_redirect_error(  # type: ignore[no-untyped-def]
    response, error: str, state: str | None, redirect_uri: str = REDIRECT
) -> dict:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    params = query(location)
    assert params["error"] == error, params
    assert params["iss"] == ISSUER
    if state is None:
        assert "state" not in params
    else:
        assert params["state"] == state
    assert "code" not in params
    return params


# --- before the redirect URI is verified: always a page -----------------------------------------


UNTRUSTED = [
    ("unknown-client", {"client_id": "no-such-client"}),
    ("missing-client", {"client_id": None}),
    ("empty-client", {"client_id": ""}),
    ("missing-redirect", {"redirect_uri": None}),
    ("empty-redirect", {"redirect_uri": ""}),
    ("unregistered-redirect", {"redirect_uri": "https://evil.example/cb"}),
    ("trailing-slash", {"redirect_uri": REDIRECT + "/"}),
    ("host-case", {"redirect_uri": "https://APP.example/cb"}),
    ("path-case", {"redirect_uri": "https://app.example/CB"}),
    ("extra-query", {"redirect_uri": REDIRECT + "?next=https://evil.example"}),
    ("fragment", {"redirect_uri": REDIRECT + "#frag"}),
    ("scheme", {"redirect_uri": "http://app.example/cb"}),
    ("explicit-port", {"redirect_uri": "https://app.example:443/cb"}),
    ("dot-segments", {"redirect_uri": "https://app.example/cb/../cb"}),
    ("suffix-host", {"redirect_uri": "https://app.example.evil.example/cb"}),
]


def test_untrusted_client_or_redirect_uri_is_an_error_page(http, client, challenge):
    # Table-driven (one app for all cases keeps this fast); every failing case is reported.
    failures = []
    for name, override in UNTRUSTED:
        try:
            assert_error_page(authorize(http, authorize_params(client, challenge, **override)))
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("mode", ["query", "form_post"])
def test_client_errors_are_a_page_before_the_redirect_uri_is_verified(http, client, challenge, mode):
    # An invalid response_type AND an unregistered redirect URI: the URI check wins.
    params = authorize_params(
        client, challenge, response_type="token", response_mode=mode, redirect_uri="https://evil.example/cb"
    )
    response = authorize(http, params)
    assert_error_page(response)
    assert "evil.example" not in response.headers["content-security-policy"]


def test_disabled_client_is_an_error_page(http, cli, client, challenge):
    assert authorize(http, authorize_params(client, challenge)).status_code == 302
    assert cli("client", "disable", client["client_id"]).code == 0
    assert_error_page(authorize(http, authorize_params(client, challenge)))


def test_deleted_client_is_an_error_page(http, cli, client, challenge):
    assert cli("client", "delete", client["client_id"]).code == 0
    assert_error_page(authorize(http, authorize_params(client, challenge)))


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_repeated_client_id_or_redirect_uri_is_an_error_page(http, client, challenge, name):
    pairs = list(authorize_params(client, challenge).items())
    pairs.append((name, dict(pairs)[name]))
    assert_error_page(get(http, pairs))


def test_error_page_escapes_what_it_shows(http, client, challenge):
    response = authorize(http, authorize_params(client, challenge, client_id="<script>alert(1)</script>"))
    assert_error_page(response)
    assert "<script>alert(1)" not in response.text


# --- loopback redirect URIs (RFC 8252 §7.3) -------------------------------------------------------


def test_public_loopback_client_may_use_any_port(http, register, alice):
    native = register("--public", "--redirect-uri", "http://127.0.0.1/cb", name="Native")
    requested = "http://127.0.0.1:51234/cb"
    verifier, challenge = pkce_pair()
    response = authorize(http, authorize_params(native, challenge, redirect_uri=requested))
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?")
    # The whole flow works and comes back to the port asked for ...
    page = http.get(response.headers["location"])
    response = submit(http, page, username="alice", password=PASSWORD)
    response = submit(http, http.get(response.headers["location"]), decision="allow")
    assert response.headers["location"].startswith(requested + "?")
    code = query(response.headers["location"])["code"]
    # ... and the code is bound to that exact URI, port included.
    wrong_port = exchange(http, native, code, verifier, redirect_uri="http://127.0.0.1:5/cb")
    assert wrong_port.json()["error"] == "invalid_grant"
    verifier, challenge = pkce_pair()
    response = authorize(http, authorize_params(native, challenge, redirect_uri=requested))
    code = query(response.headers["location"])["code"]  # signed in and consented: straight back
    tokens = exchange(http, native, code, verifier, redirect_uri=requested)
    assert tokens.status_code == 200, tokens.text


def test_loopback_errors_go_to_the_requested_port(http, register, challenge):
    native = register("--public", "--redirect-uri", "http://127.0.0.1/cb", name="Native")
    requested = "http://127.0.0.1:51234/cb"
    params = authorize_params(native, challenge, redirect_uri=requested, response_type="token")
    assert_redirect_error(authorize(http, params), "unsupported_response_type", params["state"], requested)


def test_ipv6_loopback_port_is_flexible_too(http, register, challenge):
    native = register("--public", "--redirect-uri", "http://[::1]/cb", name="Native")
    response = authorize(http, authorize_params(native, challenge, redirect_uri="http://[::1]:4321/cb"))
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?")


def test_loopback_flexibility_is_only_about_the_port(http, register, challenge):
    native = register("--public", "--redirect-uri", "http://127.0.0.1/cb", name="Native")
    for requested in (
        "http://127.0.0.1:51234/other",  # other path
        "http://127.0.0.1:51234/cb?x=1",  # extra query
        "http://127.0.0.2:51234/cb",  # another loopback address
        "https://127.0.0.1:51234/cb",  # another scheme
        "http://localhost:51234/cb",  # a name, not a loopback IP literal
    ):
        assert_error_page(authorize(http, authorize_params(native, challenge, redirect_uri=requested)))


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:51234/cb#fragment",
        "http://127.0.0.1:51234/cb#",
        "http://127.0.0.1/cb#x",
        "http://user@127.0.0.1:51234/cb",
        "http://user:secret@127.0.0.1/cb",
        "http://evil.example@127.0.0.1:51234/cb",
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:123456/cb",
        "http://127.0.0.1:-1/cb",
        "http://127.0.0.1:+80/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:8o/cb",
        "http://127.0.0.1:\u0661\u0662/cb",  # non-ASCII digits
        "http://[::1%25lo]:51234/cb",  # an IPv6 zone
        "http://127.0.0.1:51234\\@evil.example/cb",
    ],
)
def test_loopback_matching_refuses_fragments_userinfo_and_bad_ports(http, register, challenge, requested):
    """RFC 8252 §7.3 relaxes the port only: a fragment, userinfo or a port outside 1-65535 never
    matches, and the answer is an error page, never a redirect."""
    native = register("--public", "--redirect-uri", "http://127.0.0.1/cb", "--redirect-uri", "http://[::1]/cb")
    assert_error_page(authorize(http, authorize_params(native, challenge, redirect_uri=requested)))


@pytest.mark.parametrize("port", ["1", "80", "65535"])
def test_loopback_ports_at_the_edges_of_the_range_match(http, register, challenge, port):
    native = register("--public", "--redirect-uri", "http://127.0.0.1/cb", name="Native")
    response = authorize(http, authorize_params(native, challenge, redirect_uri=f"http://127.0.0.1:{port}/cb"))
    assert response.status_code == 302 and response.headers["location"].startswith("/login?")


def test_confidential_loopback_client_gets_no_port_flexibility(http, register, challenge):
    confidential = register("--redirect-uri", "http://127.0.0.1/cb", name="Web")
    assert confidential["client_secret"]
    ok = authorize(http, authorize_params(confidential, challenge))
    assert ok.status_code == 302 and ok.headers["location"].startswith("/login?")
    assert_error_page(
        authorize(http, authorize_params(confidential, challenge, redirect_uri="http://127.0.0.1:51234/cb"))
    )


def test_public_https_client_gets_no_port_flexibility(http, register, challenge):
    public = register("--public", "--redirect-uri", REDIRECT, name="SPA")
    params = authorize_params(public, challenge, redirect_uri="https://app.example:8443/cb")
    assert_error_page(authorize(http, params))


# --- after verification: errors go back to the client ------------------------------------------


CLIENT_ERRORS = [
    ("missing-response-type", {"response_type": None}, "invalid_request"),
    ("empty-response-type", {"response_type": ""}, "invalid_request"),
    ("token", {"response_type": "token"}, "unsupported_response_type"),
    ("hybrid", {"response_type": "code id_token"}, "unsupported_response_type"),
    ("response-type-case", {"response_type": "CODE"}, "unsupported_response_type"),
    ("scope-outside-client", {"scope": "openid admin"}, "invalid_scope"),
    ("missing-scope", {"scope": None}, "invalid_scope"),
    ("blank-scope", {"scope": "  "}, "invalid_scope"),
    ("no-pkce", {"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ("method-without-challenge", {"code_challenge": None}, "invalid_request"),
    ("plain", {"code_challenge_method": "plain"}, "invalid_request"),
    ("missing-method-means-plain", {"code_challenge_method": None}, "invalid_request"),
    ("method-case", {"code_challenge_method": "s256"}, "invalid_request"),
    ("short-challenge", {"code_challenge": "too-short"}, "invalid_request"),
    ("long-challenge", {"code_challenge": "a" * 44}, "invalid_request"),
    ("non-base64url-challenge", {"code_challenge": "+" * 43}, "invalid_request"),
    ("padded-challenge", {"code_challenge": "a" * 42 + "="}, "invalid_request"),
    ("challenge-with-newline", {"code_challenge": "a" * 43 + "\n"}, "invalid_request"),
    ("prompt-none-with-login", {"prompt": "none login"}, "invalid_request"),
    ("prompt-none-with-consent", {"prompt": "none consent"}, "invalid_request"),
    ("unknown-prompt", {"prompt": "bogus"}, "invalid_request"),
    ("negative-max-age", {"max_age": "-1"}, "invalid_request"),
    ("text-max-age", {"max_age": "abc"}, "invalid_request"),
    ("fractional-max-age", {"max_age": "1.5"}, "invalid_request"),
    ("empty-max-age", {"max_age": ""}, "invalid_request"),
    ("huge-max-age", {"max_age": "9" * 40}, "invalid_request"),
    ("garbage-id-token-hint", {"id_token_hint": "not-a-jwt"}, "invalid_request"),
    ("unsigned-id-token-hint", {"id_token_hint": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, "invalid_request"),
    # RFC 9101: an unsigned request object is refused; a request_uri is dereferenced only from our PAR store.
    ("request-object", {"request": "eyJhbGciOiJub25lIn0.e30."}, "invalid_request_object"),
    ("request-uri", {"request_uri": "https://app.example/request.jwt"}, "invalid_request_uri"),
    ("registration", {"registration": "{}"}, "registration_not_supported"),
    ("claims-not-json", {"claims": "not json"}, "invalid_request"),
    ("claims-not-object", {"claims": "[1, 2]"}, "invalid_request"),
    ("claims-member-not-object", {"claims": '{"id_token": 5}'}, "invalid_request"),
    ("claims-spec-not-object", {"claims": '{"userinfo": {"email": true}}'}, "invalid_request"),
    ("unregistered-resource", {"resource": "https://api.example"}, "invalid_target"),
    ("resource-not-uri", {"resource": "not a uri"}, "invalid_target"),
    ("fragment-mode", {"response_mode": "fragment"}, "invalid_request"),
    ("unknown-mode", {"response_mode": "bogus"}, "invalid_request"),
    ("over-long-value", {"nonce": "n" * 5000}, "invalid_request"),
]


def test_errors_after_verification_redirect_to_the_client(http, client, challenge):
    failures = []
    for name, override, error in CLIENT_ERRORS:
        params = authorize_params(client, challenge, **override)
        try:
            response = authorize(http, params)
            result = assert_redirect_error(response, error, params["state"])
            assert result.get("error_description")
            assert set_cookie_names(response) == set()  # nothing of a sign-in was started
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


def test_error_without_state_has_no_state(http, client, challenge):
    params = authorize_params(client, challenge, response_type="token", state=None)
    assert_redirect_error(authorize(http, params), "unsupported_response_type", None)


def test_redirect_uri_with_query_keeps_it_and_appends_the_error(http, register, challenge):
    with_query = register("--redirect-uri", "https://app.example/cb?tenant=7", name="Tenant App")
    params = authorize_params(with_query, challenge, response_type="token")
    response = authorize(http, params)
    assert response.headers["location"].startswith("https://app.example/cb?tenant=7&")
    result = query(response.headers["location"])
    assert result["tenant"] == "7" and result["error"] == "unsupported_response_type"
    assert result["iss"] == ISSUER


def test_client_without_the_authorization_code_grant_is_unauthorized(http, register, challenge):
    # The CLI lets a client_credentials client carry a redirect URI; it still may not use /authorize.
    machine = register("--grant-type", "client_credentials", "--redirect-uri", REDIRECT, name="Machine")
    assert machine["grant_types"] == ["client_credentials"]
    params = authorize_params(machine, challenge, scope="openid")
    assert_redirect_error(authorize(http, params), "unauthorized_client", params["state"])


def test_public_client_without_pkce_is_refused(http, register, challenge):
    public = register("--public", "--redirect-uri", REDIRECT, name="SPA")
    params = authorize_params(public, challenge, code_challenge=None, code_challenge_method=None)
    assert_redirect_error(authorize(http, params), "invalid_request", params["state"])


def test_pkce_can_be_optional_for_confidential_clients_only(make_app, register, challenge):
    http = make_app(require_pkce=False)
    confidential = register("--redirect-uri", REDIRECT, name="Web")
    public = register("--public", "--redirect-uri", REDIRECT, name="SPA")
    no_pkce = {"code_challenge": None, "code_challenge_method": None}
    ok = authorize(http, authorize_params(confidential, challenge, **no_pkce))
    assert ok.status_code == 302 and ok.headers["location"].startswith("/login?")
    params = authorize_params(public, challenge, **no_pkce)
    assert_redirect_error(authorize(http, params), "invalid_request", params["state"])
    # A method without a challenge is still nonsense.
    params = authorize_params(confidential, challenge, code_challenge=None)
    assert_redirect_error(authorize(http, params), "invalid_request", params["state"])


@pytest.mark.parametrize("name", ["scope", "response_type", "code_challenge", "nonce", "prompt"])
def test_repeated_parameters_are_invalid_request(http, client, challenge, name):
    params = authorize_params(client, challenge, prompt="login")
    pairs = [*list(params.items()), (name, params[name])]
    result = assert_redirect_error(get(http, pairs), "invalid_request", params["state"])
    assert name in result["error_description"]


def test_repeated_state_is_not_echoed(http, client, challenge):
    params = authorize_params(client, challenge)
    pairs = [*list(params.items()), ("state", "other")]
    assert_redirect_error(get(http, pairs), "invalid_request", None)


def test_registered_resources_may_be_repeated(http, register, challenge):
    api = register(
        "--redirect-uri",
        REDIRECT,
        "--resource",
        "https://api.example",
        "--resource",
        "https://files.example",
        name="With APIs",
    )
    pairs = list(authorize_params(api, challenge).items())
    pairs += [("resource", "https://api.example"), ("resource", "https://files.example")]
    response = get(http, pairs)
    assert response.status_code == 302 and response.headers["location"].startswith("/login?")
    pairs.append(("resource", "https://evil.example"))
    assert_redirect_error(get(http, pairs), "invalid_target", dict(pairs)["state"])


def test_id_token_hint_must_be_an_id_token_not_an_access_token(http, register, client, challenge):
    machine = register(name="Machine")
    access_token = client_token(http, machine)["access_token"]
    params = authorize_params(client, challenge, id_token_hint=access_token)
    assert_redirect_error(authorize(http, params), "invalid_request", params["state"])


@pytest.mark.parametrize("max_age", ["\u00b2", "\u2460"])
def test_non_ascii_digit_max_age_is_invalid_request(http, client, challenge, max_age):
    params = authorize_params(client, challenge, max_age=max_age)
    assert_redirect_error(authorize(http, params), "invalid_request", params["state"])


# --- response_mode=form_post errors ------------------------------------------------------------


def test_form_post_errors_come_back_as_an_auto_submitting_form(http, client, challenge):
    params = authorize_params(client, challenge, response_type="token", response_mode="form_post")
    response = authorize(http, params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    [form] = forms(response.text)
    assert form["action"] == REDIRECT
    assert form["method"].lower() == "post"
    fields = form["fields"]
    assert fields["error"] == "unsupported_response_type"
    assert fields["state"] == params["state"]
    assert fields["iss"] == ISSUER
    assert "code" not in fields
    assert all(form["inputs"][name].get("type") == "hidden" for name in fields)
    csp = response.headers["content-security-policy"]
    assert "form-action 'self' https://app.example" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    assert '<script src="/static/form_post.js"></script>' in response.text


def test_form_post_error_values_are_escaped(http, client, challenge):
    state = '"><script>alert(1)</script>'
    params = authorize_params(client, challenge, response_type="token", response_mode="form_post", state=state)
    response = authorize(http, params)
    assert "<script>alert(1)" not in response.text
    assert forms(response.text)[0]["fields"]["state"] == state


def test_unknown_response_mode_errors_come_back_in_the_query(http, client, challenge):
    params = authorize_params(client, challenge, response_mode="web_message")
    response = authorize(http, params)
    result = assert_redirect_error(response, "invalid_request", params["state"])
    assert "response_mode" in result["error_description"]


# --- POST /authorize ----------------------------------------------------------------------------


def test_post_authorize_works_like_get(http, client, challenge):
    response = http.post("/authorize", data=authorize_params(client, challenge), follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?interaction=")


def test_post_authorize_errors_redirect_like_get(http, client, challenge):
    params = authorize_params(client, challenge, scope="openid admin")
    response = http.post("/authorize", data=params, follow_redirects=False)
    assert_redirect_error(response, "invalid_scope", params["state"])


def test_post_authorize_with_unknown_client_is_a_page(http, client, challenge):
    response = http.post(
        "/authorize", data=authorize_params(client, challenge, client_id="nope"), follow_redirects=False
    )
    assert_error_page(response)


def test_malformed_post_authorize_is_a_page(http):
    for content_type, body in [
        ("application/json", b'{"client_id": "x"}'),
        (None, b"client_id=x"),
        ("application/x-www-form-urlencoded", b"client_id=%ff%fe"),  # percent-encoded non-UTF-8
        ("application/x-www-form-urlencoded", b"client_id=\xff\xfe"),  # raw non-UTF-8
        ("application/x-www-form-urlencoded", b"client_id=a%00b"),  # NUL
        ("application/x-www-form-urlencoded", b"&".join(b"p%d=1" % i for i in range(200))),  # too many fields
    ]:
        headers = {"content-type": content_type} if content_type else {}
        assert_error_page(http.post("/authorize", content=body, headers=headers, follow_redirects=False))


def test_oversized_post_authorize_is_refused(make_app):
    http = make_app(max_body_bytes=2048)
    response = http.post(
        "/authorize",
        content=b"client_id=" + b"a" * 4096,
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 413
    assert "location" not in response.headers


# --- malformed queries --------------------------------------------------------------------------


def test_malformed_query_is_an_error_page_not_a_500(http):
    for raw_query in [
        "client_id=%ff%fe",  # not UTF-8
        "state=%c3%28",  # an invalid UTF-8 sequence
        "%ff=1",  # a name that is not UTF-8
        "&".join(f"p{i}=1" for i in range(150)),  # too many parameters
        "",
        "client_id",  # a name without a value
        "=&=&&",
    ]:
        assert_error_page(http.get("/authorize?" + raw_query, follow_redirects=False))


def test_non_utf8_after_a_valid_client_is_still_a_page(http, client, challenge):
    # The query cannot be decoded, so nothing in it (not even redirect_uri) can be trusted.
    response = http.get(
        "/authorize?" + urlencode(authorize_params(client, challenge)) + "&nonce=%ff", follow_redirects=False
    )
    assert_error_page(response)


def test_nul_in_client_id_is_an_error_page(http, client, challenge):
    assert_error_page(authorize(http, authorize_params(client, challenge, client_id="abc\x00def")))


def test_nul_in_nonce_never_causes_a_server_error(http, client, alice):
    _, challenge = pkce_pair()
    response = authorize(http, authorize_params(client, challenge, nonce="a\x00b"))
    if response.status_code == 400:  # refused up front: fine
        assert_error_page(response)
        return
    result, _verifier, _ = sign_in(http, client, nonce="a\x00b")
    assert "code" in result


def test_errors_never_redirect_to_a_url_built_from_the_request_host(http, client, challenge):
    # iss is the configured issuer, not the Host header.
    params = authorize_params(client, challenge, response_type="token")
    response = http.get("/authorize?" + urlencode(params), headers={"host": "evil.example"}, follow_redirects=False)
    result = assert_redirect_error(response, "unsupported_response_type", params["state"])
    assert result["iss"] == ISSUER
    assert urlsplit(response.headers["location"]).netloc == "app.example"
