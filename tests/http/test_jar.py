"""Signed request objects (JAR, RFC 9101) at /authorize and inside pushed requests (RFC 9126 §3)."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from tests.helpers import authorize_params, basic, exchange, pkce_pair, query
from tests.http.par import PREFIX, REDIRECT, SIGN_IN, authorize_uri, error_page, finish, push

ISSUER = "http://testserver"


@pytest.fixture(scope="module")
def rsa_key():
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def ec_key():
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture
def jwks_file(tmp_path, rsa_key, ec_key) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KeySet([rsa_key, ec_key]).as_dict(private=False)))
    return str(path)


@pytest.fixture
def app(register, jwks_file) -> dict:
    return register(*SIGN_IN, "--jwks-file", jwks_file, name="app")


@pytest.fixture
def strict(register, jwks_file) -> dict:
    return register(*SIGN_IN, "--jwks-file", jwks_file, "--require-signed-request-object", name="strict")


def request_object(
    client: dict, key, alg: str = "RS256", header: dict | None = None, **overrides
) -> tuple[str, str, dict]:  # type: ignore[no-untyped-def]
    """(signed object, code_verifier, its claims)."""
    verifier, challenge = pkce_pair()
    now = int(time.time())
    claims: dict = {
        "iss": client["client_id"],
        "aud": ISSUER,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        **authorize_params(client, challenge),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    head = {"alg": alg, "typ": "oauth-authz-req+jwt", "kid": key.kid, **(header or {})}
    return jwt.encode(head, claims, key, algorithms=[alg]), verifier, claims


def authorize_object(http, client_id: str, value: str, **extra: str):  # type: ignore[no-untyped-def]
    return http.get(
        "/authorize?" + urlencode({"client_id": client_id, "request": value, **extra}), follow_redirects=False
    )


def unsigned(claims: dict) -> str:
    import base64

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return part({"alg": "none"}) + "." + part(claims) + "."


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_signed_request_object_signs_in(http, app, alice, rsa_key, ec_key, alg):
    key = ec_key if alg == "ES256" else rsa_key
    value, verifier, claims = request_object(app, key, alg)
    callback = finish(http, authorize_object(http, app["client_id"], value))
    assert callback["state"] == claims["state"]
    assert exchange(http, app, callback["code"], verifier).status_code == 200


def test_only_the_objects_parameters_count(http, app, alice, rsa_key):
    # RFC 9101 §5: outer parameters are ignored, even where the object is silent.
    value, _, claims = request_object(app, rsa_key)
    callback = finish(http, authorize_object(http, app["client_id"], value, state="outer", nonce="outer"))
    assert callback["state"] == claims["state"]


def test_claims_parameter_and_max_age_as_json_types(http, app, alice, rsa_key):
    value, verifier, _ = request_object(app, rsa_key, max_age=3600, claims={"id_token": {"email": None}})
    callback = finish(http, authorize_object(http, app["client_id"], value))
    token = exchange(http, app, callback["code"], verifier)
    assert token.status_code == 200


def bad_objects(app: dict, rsa_key, ec_key) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    now = int(time.time())
    other = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    hmac = OctKey.generate_key(256, parameters={"kid": "rsa-1"})
    return [
        ("unsigned", unsigned(request_object(app, rsa_key)[2]), "Unsigned"),
        ("wrong-key", request_object(app, other)[0], "signature"),
        ("hs256", request_object(app, hmac, "HS256")[0], "signed with one of"),
        ("rs384", request_object(app, other, "RS384")[0], "signed with one of"),
        ("wrong-iss", request_object(app, rsa_key, iss="someone-else")[0], "iss"),
        ("no-iss", request_object(app, rsa_key, iss=None)[0], "iss"),
        ("wrong-aud", request_object(app, rsa_key, aud="https://other.example")[0], "aud"),
        ("no-aud", request_object(app, rsa_key, aud=None)[0], "aud"),
        ("no-exp", request_object(app, rsa_key, exp=None)[0], "exp"),
        ("expired", request_object(app, rsa_key, exp=now - 3600)[0], "expired"),
        ("too-long", request_object(app, rsa_key, exp=now + 3700)[0], "60 minutes"),
        ("not-yet", request_object(app, rsa_key, nbf=now + 600)[0], "not valid yet"),
        ("no-jti", request_object(app, rsa_key, jti=None)[0], "jti"),
        ("nested-request-uri", request_object(app, rsa_key, request_uri=PREFIX + "x")[0], "request_uri"),
        ("other-client-id", request_object(app, rsa_key, client_id="someone-else")[0], "client_id"),
        ("wrong-typ", request_object(app, rsa_key, header={"typ": "dpop+jwt"})[0], "typ"),
        ("bool-param", request_object(app, rsa_key, prompt=True)[0], "wrong type"),
        ("garbage", "not.a.jwt", "signed JWT"),
    ]


def test_bad_request_objects_are_invalid_request_object(http, app, rsa_key, ec_key):
    failures = []
    for name, value, words in bad_objects(app, rsa_key, ec_key):
        # With a registered outer redirect_uri the error goes back to the client ...
        response = authorize_object(http, app["client_id"], value, redirect_uri=REDIRECT, state="s")
        try:
            assert response.status_code == 302, response.text
            result = query(response.headers["location"])
            assert (result["error"], result["state"]) == ("invalid_request_object", "s")
            assert words in result["error_description"], result["error_description"]
            assert "code" not in result
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
        # ... without one, to a page (nothing in the object can be trusted).
        page = authorize_object(http, app["client_id"], value)
        if page.status_code != 400 or "invalid_request_object" not in page.text:
            failures.append(f"{name} (no outer redirect): {page.status_code}")
    assert not failures, "\n".join(failures)


def test_unregistered_outer_redirect_uri_gets_a_page(http, app, rsa_key):
    value = unsigned(request_object(app, rsa_key)[2])
    response = authorize_object(http, app["client_id"], value, redirect_uri="https://evil.example/cb")
    assert "invalid_request_object" in error_page(response)


def test_jti_is_single_use(http, app, alice, rsa_key):
    value, _, _ = request_object(app, rsa_key)
    assert authorize_object(http, app["client_id"], value).status_code == 302
    replay = authorize_object(http, app["client_id"], value, redirect_uri=REDIRECT)
    assert query(replay.headers["location"])["error"] == "invalid_request_object"
    assert "already been used" in query(replay.headers["location"])["error_description"]


def test_expiry_follows_the_clock(http, app, rsa_key, clock):
    from authserver.oauth import jar

    value, _, _ = request_object(app, rsa_key)
    clock.advance(301 + jar.LEEWAY)
    response = authorize_object(http, app["client_id"], value, redirect_uri=REDIRECT)
    assert "expired" in query(response.headers["location"])["error_description"]


def test_client_without_keys_cannot_send_objects(http, register, rsa_key):
    plain = register(*SIGN_IN, name="plain")
    value, _, _ = request_object(plain, rsa_key)
    response = authorize_object(http, plain["client_id"], value, redirect_uri=REDIRECT)
    assert query(response.headers["location"])["error"] == "invalid_request_object"


def test_outer_client_id_is_required(http, app, rsa_key):
    value, _, _ = request_object(app, rsa_key)
    error_page(http.get("/authorize?" + urlencode({"request": value}), follow_redirects=False))


def test_request_and_request_uri_together_are_refused(http, app, rsa_key):
    value, _, _ = request_object(app, rsa_key)
    response = authorize_object(http, app["client_id"], value, request_uri=PREFIX + "x", redirect_uri=REDIRECT)
    assert query(response.headers["location"])["error"] == "invalid_request"


# --- inside PAR ------------------------------------------------------------------------------


def test_pushed_request_object(http, app, alice, rsa_key):
    value, verifier, claims = request_object(app, rsa_key)
    response = http.post("/par", data={"request": value}, headers=basic(app["client_id"], app["client_secret"]))
    assert response.status_code == 201, response.text
    callback = finish(http, authorize_uri(http, app["client_id"], response.json()["request_uri"]))
    assert callback["state"] == claims["state"]
    assert exchange(http, app, callback["code"], verifier).status_code == 200


def test_pushed_bad_request_object_is_400_invalid_request_object(http, app, rsa_key, ec_key):
    for _name, value, words in bad_objects(app, rsa_key, ec_key):
        response = http.post("/par", data={"request": value}, headers=basic(app["client_id"], app["client_secret"]))
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request_object"
        assert words in response.json()["error_description"]


def test_pushed_object_of_another_client_is_refused(http, app, register, jwks_file, rsa_key):
    other = register(*SIGN_IN, "--jwks-file", jwks_file, name="other")
    value, _, _ = request_object(other, rsa_key)
    response = http.post("/par", data={"request": value}, headers=basic(app["client_id"], app["client_secret"]))
    assert response.json()["error"] == "invalid_request_object"


# --- requiring signed objects ----------------------------------------------------------------


def test_client_requiring_signed_objects_refuses_plain_requests(http, strict, alice, rsa_key):
    params = authorize_params(strict, pkce_pair()[1])
    response = http.get("/authorize?" + urlencode(params), follow_redirects=False)
    result = query(response.headers["location"])
    assert result["error"] == "invalid_request"
    assert "signed request object" in result["error_description"]
    pushed_plain = push(http, strict, authorize_params(strict, pkce_pair()[1]))
    assert pushed_plain.status_code == 400
    assert pushed_plain.json()["error"] == "invalid_request"
    # Signed, directly or pushed, it works; a pushed object stays "signed" at /authorize.
    value, _, _ = request_object(strict, rsa_key)
    assert authorize_object(http, strict["client_id"], value).headers["location"].startswith("/login")
    value, _, _ = request_object(strict, rsa_key)
    uri = http.post("/par", data={"request": value}, headers=basic(strict["client_id"], strict["client_secret"]))
    response = authorize_uri(http, strict["client_id"], uri.json()["request_uri"])
    assert response.headers["location"].startswith("/login")


def test_cli_flags(cli, strict):
    assert strict["require_signed_request_object"] is True
    refused = cli("client", "create", "--name", "x", *SIGN_IN, "--require-signed-request-object")
    assert refused.code != 0
    assert "--jwks-file" in refused.err
    service = cli("client", "create", "--name", "svc", "--require-par")
    assert service.code != 0


def test_private_key_jwt_client_pushes_a_signed_request_object(http, register, jwks_file, alice, rsa_key):
    # PAR authenticates like /token (RFC 9126 §2): here with a client assertion; the same registered
    # keys verify the request object.
    client = register(
        *SIGN_IN, "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", jwks_file, name="fapi"
    )

    def push_with(aud: str):  # type: ignore[no-untyped-def]
        now = int(time.time())
        assertion = {"iss": client["client_id"], "sub": client["client_id"], "aud": aud}
        assertion.update(exp=now + 60, jti=uuid.uuid4().hex)
        value, _, claims = request_object(client, rsa_key)
        form = {
            "request": value,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode({"alg": "RS256", "kid": rsa_key.kid}, assertion, rsa_key),
        }
        return http.post("/par", data=form), claims

    # RFC 9126 §2: the issuer, the token endpoint and the PAR endpoint are all accepted audiences.
    for aud in (ISSUER, ISSUER + "/token", ISSUER + "/par"):
        assert push_with(aud)[0].status_code == 201
    assert push_with("https://other.example/par")[0].status_code == 401
    response, claims = push_with(ISSUER + "/par")
    callback = finish(http, authorize_uri(http, client["client_id"], response.json()["request_uri"]))
    assert callback["state"] == claims["state"]
