"""The authorization request's checks (oauth/authorize_request.py) as pure functions: which check answers
first, and whether its answer is a page (the redirect URI is not trusted yet) or an error to the client.
The HTTP behaviour of the same rules is in tests/http/test_authorize_errors.py."""

from __future__ import annotations

from typing import Any

import pytest

from authserver.domain import GRANT_AUTHORIZATION_CODE, Client
from authserver.oauth.authorize_request import (
    AuthorizationRequest,
    AuthorizeError,
    AuthorizeFatal,
    Incoming,
    validate,
)

REDIRECT = "https://app.example/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
APP = Client(
    client_id="app",
    name="App",
    token_endpoint_auth_method="client_secret_basic",
    grant_types=(GRANT_AUTHORIZATION_CODE,),
    redirect_uris=(REDIRECT,),
    scopes=("openid", "email"),
    resources=("https://api.example",),
)
GOOD = [
    ("client_id", "app"),
    ("redirect_uri", REDIRECT),
    ("response_type", "code"),
    ("scope", "openid email openid"),
    ("state", "s"),
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
]


def hint(value: str) -> dict[str, Any] | None:
    return {"sub": value[5:]} if value.startswith("good:") else None


def run(pairs: list[tuple[str, str]], client: Client = APP, **options: Any) -> AuthorizationRequest:
    options.setdefault("require_pkce", True)
    return validate(pairs, {client.client_id: client}.get, verify_id_token_hint=hint, **options)


def replaced(**changes: str | None) -> list[tuple[str, str]]:
    pairs = [(k, v) for k, v in GOOD if k not in changes]
    return pairs + [(k, v) for k, v in changes.items() if v is not None]


def test_a_good_request() -> None:
    authz = run([*GOOD, ("resource", "https://api.example"), ("resource", "https://api.example")])
    assert authz.client is APP and authz.redirect_uri == REDIRECT and authz.response_mode == "query"
    assert authz.scopes == ["openid", "email"]  # in order, once each
    assert (authz.code_challenge, authz.code_challenge_method, authz.state) == (CHALLENGE, "S256", "s")
    assert authz.resources == ["https://api.example"] and authz.prompt == frozenset() and authz.max_age is None


@pytest.mark.parametrize(
    "pairs",
    [
        replaced(client_id=None),
        [*GOOD, ("client_id", "app")],
        replaced(client_id="stranger"),
        replaced(redirect_uri=None),
        replaced(redirect_uri="https://evil.example/cb"),
        [*GOOD, ("redirect_uri", REDIRECT)],
    ],
)
def test_until_client_and_redirect_uri_are_proven_the_answer_is_a_page(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(AuthorizeFatal):
        run(pairs)


def test_a_disabled_client_is_a_page() -> None:
    disabled = Client(**{**APP.__dict__, "disabled": True})
    with pytest.raises(AuthorizeFatal):
        run(GOOD, disabled)


@pytest.mark.parametrize(
    ("pairs", "error", "words"),
    [
        ([*GOOD, ("scope", "openid")], "invalid_request", "repeated: scope"),
        (replaced(nonce="n" * 4097), "invalid_request", "too long: nonce"),
        (replaced(response_mode="fragment"), "invalid_request", "response_mode"),
        (replaced(request_uri="urn:x"), "invalid_request", "nested"),
        (replaced(registration="{}"), "registration_not_supported", "registration"),
        (replaced(response_type=None), "invalid_request", "response_type is required"),
        (replaced(response_type="token"), "unsupported_response_type", "Only response_type=code"),
        (replaced(scope=""), "invalid_scope", "scope is required"),
        (replaced(scope="openid admin"), "invalid_scope", "admin"),
        (replaced(code_challenge=None, code_challenge_method=None), "invalid_request", "code_challenge is required"),
        (replaced(code_challenge_method=None), "invalid_request", "must be S256"),
        (replaced(code_challenge_method="plain"), "invalid_request", "must be S256"),
        (replaced(code_challenge="short"), "invalid_request", "43 base64url"),
        (replaced(dpop_jkt="not a thumbprint"), "invalid_request", "dpop_jkt"),
        (replaced(prompt="none login"), "invalid_request", "cannot be combined"),
        (replaced(prompt="create"), "invalid_request", "Unsupported prompt value: create"),
        (replaced(max_age="-1"), "invalid_request", "max_age"),
        (replaced(max_age="12345678901"), "invalid_request", "max_age"),
        (replaced(id_token_hint="forged"), "invalid_request", "id_token_hint"),
        (replaced(claims="not json"), "invalid_request", "claims"),
        (
            replaced(id_token_hint="good:alice", claims='{"id_token": {"sub": {"value": "bob"}}}'),
            "invalid_request",
            "different users",
        ),
        (replaced(resource="https://other.example"), "invalid_target", "https://other.example"),
    ],
)
def test_after_that_errors_go_back_to_the_client(pairs: list[tuple[str, str]], error: str, words: str) -> None:
    with pytest.raises(AuthorizeError) as raised:
        run(pairs)
    assert raised.value.error == error and words in raised.value.description
    assert raised.value.redirect_uri == REDIRECT and raised.value.state == "s"


def test_the_error_keeps_a_valid_response_mode_and_drops_a_repeated_state() -> None:
    with pytest.raises(AuthorizeError) as raised:
        run([*replaced(response_mode="form_post", scope=None), ("state", "again")])
    assert (raised.value.response_mode, raised.value.state) == ("form_post", None)


def test_the_first_failing_check_answers() -> None:
    # Both the response type and the scope are wrong: the response type is checked first.
    with pytest.raises(AuthorizeError) as raised:
        run(replaced(response_type="token", scope="admin"))
    assert raised.value.error == "unsupported_response_type"


def test_channel_rules_of_the_client_and_the_server() -> None:
    par_only = Client(**{**APP.__dict__, "require_par": True})
    signed_only = Client(**{**APP.__dict__, "require_signed_request_object": True})
    for client, options in ((par_only, {}), (APP, {"require_par": True}), (signed_only, {"pushed": True})):
        with pytest.raises(AuthorizeError):
            run(GOOD, client, **options)
    assert run(GOOD, par_only, pushed=True).client is par_only
    assert run(GOOD, signed_only, signed=True).client is signed_only


def test_a_confidential_client_may_omit_pkce_unless_the_server_requires_it() -> None:
    plain = replaced(code_challenge=None, code_challenge_method=None)
    authz = run(plain, require_pkce=False)
    assert (authz.code_challenge, authz.code_challenge_method) == (None, None)
    with pytest.raises(AuthorizeError):
        run(replaced(code_challenge=None), require_pkce=False)  # a method without a challenge


def test_the_subject_comes_from_the_hint_or_the_claims_request() -> None:
    assert run(replaced(id_token_hint="good:alice")).hint_subject == "alice"
    by_claims = run(replaced(claims='{"id_token": {"sub": {"value": "bob"}}}'))
    assert by_claims.hint_subject == "bob" and by_claims.claims is not None
    assert run(replaced(max_age="0", prompt="login consent")).max_age == 0


def test_incoming_counts_and_the_last_value() -> None:
    incoming = Incoming.of([("a", "1"), ("a", "2"), ("resource", "x"), ("resource", "y"), ("b", "")])
    assert incoming.params == {"a": "2", "resource": "y", "b": ""}
    assert incoming.counts == {"a": 2, "resource": 2, "b": 1}
    assert incoming.resources == ["x", "y"]
    assert (incoming.once("a"), incoming.once("b"), incoming.once("c")) == (None, "", None)
