"""DPoP (RFC 9449) at the token endpoint, /userinfo and introspection, through HTTP."""

from __future__ import annotations

import base64
import json
import threading
import time
import warnings
from urllib.parse import urlencode

import pytest
from joserfc.jwk import OctKey, RSAKey

from tests.dpop_proofs import ISSUER, new_key, proof
from tests.helpers import (
    PASSWORD,
    authorize_params,
    basic,
    follow,
    jwt_parts,
    pkce_pair,
    query,
    sign_in,
    submit,
)

REDIRECT = "https://app.example/cb"
SIGN_IN = ("--grant-type", "authorization_code", "--grant-type", "refresh_token", "--redirect-uri", REDIRECT)
USERINFO = ISSUER + "/userinfo"
PAR = ISSUER + "/par"


@pytest.fixture
def service(register) -> dict:
    return register("--scope", "read", name="service")


@pytest.fixture
def spa(register) -> dict:
    return register(*SIGN_IN, "--public", name="spa")


@pytest.fixture
def web(register) -> dict:
    return register(*SIGN_IN, name="web")


@pytest.fixture(scope="module")
def key():
    return new_key("ES256")


def cc_request(http, client: dict, dpop: str | list[str] | None = None):  # type: ignore[no-untyped-def]
    headers = basic(client["client_id"], client["client_secret"])
    request_headers: list[tuple[str, str]] = list(headers.items())
    for value in [dpop] if isinstance(dpop, str) else dpop or []:
        request_headers.append(("DPoP", value))
    return http.post("/token", data={"grant_type": "client_credentials"}, headers=request_headers)


def assert_proof_error(response, error: str = "invalid_dpop_proof", words: str = "") -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error, response.json()
    assert words in response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"


def introspect(http, resource_server: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect",
        data={"token": token},
        headers=basic(resource_server["client_id"], resource_server["client_secret"]),
    )
    assert response.status_code == 200
    return response.json()


# --- the token endpoint ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA", "Ed25519"])
def test_proof_binds_the_access_token(http, service, api, alg):
    key = new_key(alg)
    response = cc_request(http, service, proof(key, alg=alg))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    _, claims = jwt_parts(body["access_token"])
    assert claims["cnf"] == {"jkt": key.thumbprint()}  # RFC 7638 SHA-256 thumbprint
    found = introspect(http, service, body["access_token"])
    assert found["active"] is True
    assert (found["token_type"], found["cnf"]) == ("DPoP", {"jkt": key.thumbprint()})
    assert "dpop-nonce" not in response.headers  # nonces are off by default


def test_without_a_proof_tokens_stay_bearer(http, service, api):
    body = cc_request(http, service).json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in jwt_parts(body["access_token"])[1]
    assert introspect(http, service, body["access_token"])["token_type"] == "Bearer"


def test_htu_ignores_query_and_normalises_case_and_default_port(http, service, key):
    for htu in ("http://TESTSERVER/token?x=1#f", "http://testserver:80/token"):
        assert cc_request(http, service, proof(key, htu=htu)).status_code == 200


def broken_proofs(key) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    now = int(time.time())
    other = new_key("ES256")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = RSAKey.generate_key(1024)
    rsa = new_key("RS256")
    hmac = OctKey.generate_key(256)
    return [
        ("not-a-jwt", "garbage", "not a JWS"),
        ("wrong-typ", proof(key, header={"typ": "JWT"}), "typ"),
        ("no-typ", proof(key, drop=("typ",)), "typ"),
        ("alg-none", _unsigned(key), "signed with one of"),
        ("hs256", proof(hmac, alg="HS256", header={"jwk": {"kty": "EC"}}), "signed with one of"),
        ("no-jwk", proof(key, drop=("jwk",)), "jwk"),
        ("private-jwk", proof(key, header={"jwk": key.as_dict(private=True)}), "public key"),
        ("jwk-of-another-key", proof(key, signing_key=other), "signature"),
        ("rsa-1024", proof(small, alg="RS256"), "does not suit"),
        ("rs256-with-ec-jwk", proof(rsa, alg="RS256", header={"jwk": other.as_dict(private=False)}), "does not suit"),
        ("wrong-htm", proof(key, htm="GET"), "htm"),
        ("wrong-htu-path", proof(key, htu=ISSUER + "/userinfo"), "htu"),
        ("wrong-htu-host", proof(key, htu="https://testserver/token"), "htu"),
        ("no-htu", proof(key, drop=("htu",)), "htu"),
        ("stale-iat", proof(key, iat=now - 120), "iat"),
        ("future-iat", proof(key, iat=now + 60), "iat"),
        ("no-iat", proof(key, drop=("iat",)), "iat"),
        ("string-iat", proof(key, iat=str(now)), "iat"),
        ("no-jti", proof(key, drop=("jti",)), "jti"),
    ]


def _unsigned(key) -> str:  # type: ignore[no-untyped-def]
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    head = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    return part(head) + "." + part({"jti": "x", "htm": "POST", "htu": ISSUER + "/token", "iat": int(time.time())}) + "."


def test_broken_proofs_are_invalid_dpop_proof(http, service, key):
    failures = []
    for name, value, words in broken_proofs(key):
        response = cc_request(http, service, value)
        try:
            assert_proof_error(response, words=words)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


def test_replayed_proof_is_refused(http, service, key):
    value = proof(key)
    assert cc_request(http, service, value).status_code == 200
    assert_proof_error(cc_request(http, service, value), words="already been used")


def test_concurrent_replays_of_one_proof_one_wins(http, service, key):
    value = proof(key)
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(cc_request(http, service, value).status_code)) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [400] * 5


def test_two_dpop_headers_are_refused(http, service, key):
    assert_proof_error(cc_request(http, service, [proof(key), proof(key)]), words="exactly one")


def test_iat_window_follows_the_clock(http, service, key, clock):
    value = proof(key)
    clock.advance(61)  # the app's clock: the proof is now older than the accepted window
    assert_proof_error(cc_request(http, service, value), words="iat")


def test_client_registered_for_dpop_must_send_proofs(http, register, key):
    strict = register("--scope", "read", "--require-dpop", name="strict")
    assert strict["dpop_bound_access_tokens"] is True
    assert_proof_error(cc_request(http, strict), words="must send a DPoP proof")
    assert cc_request(http, strict, proof(key)).json()["token_type"] == "DPoP"


# --- user tokens and refresh binding ---------------------------------------------------------


def user_tokens(http, client: dict, key) -> dict:  # type: ignore[no-untyped-def]
    callback, verifier, _ = sign_in(http, client, scope="openid profile offline_access")
    data = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
    }
    headers: dict[str, str] = {"DPoP": proof(key)} if key is not None else {}
    if client.get("client_secret"):
        headers.update(basic(client["client_id"], client["client_secret"]))
    else:
        data["client_id"] = client["client_id"]
    response = http.post("/token", data=data, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(http, client: dict, token: str, key=None):  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": token}
    headers: dict[str, str] = {"DPoP": proof(key)} if key is not None else {}
    if client.get("client_secret"):
        headers.update(basic(client["client_id"], client["client_secret"]))
    else:
        data["client_id"] = client["client_id"]
    return http.post("/token", data=data, headers=headers)


def test_public_clients_refresh_token_is_bound_to_the_key(http, spa, alice, key):
    tokens = user_tokens(http, spa, key)
    assert tokens["token_type"] == "DPoP"
    # RFC 9449 §5: without a proof, or with another key's, the bound refresh token does not work ...
    assert_proof_error(refresh(http, spa, tokens["refresh_token"]), words="bound to a DPoP key")
    other = refresh(http, spa, tokens["refresh_token"], new_key("ES256"))
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"
    # ... and those failed attempts did not spend it: with the key, it rotates, and the binding carries on.
    rotated = refresh(http, spa, tokens["refresh_token"], key)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token_type"] == "DPoP"
    assert jwt_parts(rotated.json()["access_token"])[1]["cnf"]["jkt"] == key.thumbprint()
    assert_proof_error(refresh(http, spa, rotated.json()["refresh_token"]), words="bound")


def test_confidential_clients_refresh_token_is_not_bound(http, web, alice, key):
    tokens = user_tokens(http, web, key)
    assert tokens["token_type"] == "DPoP"
    # RFC 9449 §5: a confidential client's refresh token is sender-constrained by client authentication.
    plain = refresh(http, web, tokens["refresh_token"])
    assert plain.status_code == 200, plain.text
    assert plain.json()["token_type"] == "Bearer"


def test_code_exchange_without_proof_is_bearer(http, spa, alice):
    tokens = user_tokens(http, spa, None)
    assert tokens["token_type"] == "Bearer"
    assert refresh(http, spa, tokens["refresh_token"]).status_code == 200


# --- the authorization code bound to a key (RFC 9449 §10) ------------------------------------


def redeem(http, client: dict, callback: dict, verifier: str, key=None):  # type: ignore[no-untyped-def]
    data = {"grant_type": "authorization_code", "code": callback["code"], "code_verifier": verifier}
    data["redirect_uri"] = REDIRECT
    headers: dict[str, str] = {"DPoP": proof(key)} if key is not None else {}
    if client.get("client_secret"):
        headers.update(basic(client["client_id"], client["client_secret"]))
    else:
        data["client_id"] = client["client_id"]
    return http.post("/token", data=data, headers=headers)


def assert_bound_code(http, client: dict, callback: dict, verifier: str, key) -> None:  # type: ignore[no-untyped-def]
    """The code is refused without a proof and with another key's, unspent, then redeemed with the key."""
    assert_proof_error(redeem(http, client, callback, verifier), words="authorization code is bound to a DPoP key")
    other = redeem(http, client, callback, verifier, new_key("ES256"))
    assert other.status_code == 400, other.text
    assert other.json() == {
        "error": "invalid_grant",
        "error_description": "This authorization code is bound to another DPoP key",
    }
    tokens = redeem(http, client, callback, verifier, key)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "DPoP"
    assert jwt_parts(tokens.json()["access_token"])[1]["cnf"]["jkt"] == key.thumbprint()


@pytest.mark.parametrize("client_name", ["spa", "web"])
def test_dpop_jkt_at_authorize_binds_the_code(http, request, alice, key, client_name):
    client = request.getfixturevalue(client_name)
    callback, verifier, _ = sign_in(http, client, scope="openid", dpop_jkt=key.thumbprint())
    assert_bound_code(http, client, callback, verifier, key)


def test_code_without_dpop_jkt_is_not_bound(http, web, alice):
    callback, verifier, _ = sign_in(http, web, scope="openid")
    assert redeem(http, web, callback, verifier).json()["token_type"] == "Bearer"


@pytest.mark.parametrize("value", ["", "short", "x" * 44, "a" * 42 + "=", "+" * 43])
def test_malformed_dpop_jkt_goes_back_to_the_client(http, spa, value):
    _, challenge = pkce_pair()
    params = authorize_params(spa, challenge, dpop_jkt=value)
    response = http.get("/authorize?" + urlencode(params), follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"].startswith(REDIRECT + "?")
    back = query(response.headers["location"])
    assert back["error"] == "invalid_request"
    assert "dpop_jkt" in back["error_description"]
    assert back["state"] == params["state"]


def push(http, client: dict, dpop: str | None = None, **extra: str):  # type: ignore[no-untyped-def]
    """POST /par for `client` (optionally with a DPoP header); (response, code_verifier)."""
    verifier, challenge = pkce_pair()
    data = authorize_params(client, challenge, scope="openid", **extra)
    headers: dict[str, str] = {"DPoP": dpop} if dpop is not None else {}
    if client.get("client_secret"):
        headers.update(basic(client["client_id"], client["client_secret"]))
        data.pop("client_id")
    return http.post("/par", data=data, headers=headers), verifier


def sign_in_pushed(http, client: dict, request_uri: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.get(
        "/authorize?" + urlencode({"client_id": client["client_id"], "request_uri": request_uri}),
        follow_redirects=False,
    )
    if response.headers.get("location", "").startswith("/login"):
        response = submit(http, follow(http, response), username="alice", password=PASSWORD)
    if response.headers.get("location", "").startswith("/consent"):
        response = submit(http, follow(http, response), decision="allow")
    assert response.status_code in (302, 303), response.text
    return query(response.headers["location"])


@pytest.mark.parametrize("client_name", ["spa", "web"])
def test_proof_at_par_binds_the_code(http, request, alice, key, client_name):
    # RFC 9449 §10.1: the proof's key counts as if its thumbprint had been sent as dpop_jkt.
    client = request.getfixturevalue(client_name)
    pushed, verifier = push(http, client, proof(key, htu=PAR))
    assert pushed.status_code == 201, pushed.text
    callback = sign_in_pushed(http, client, pushed.json()["request_uri"])
    assert_bound_code(http, client, callback, verifier, key)


def test_dpop_jkt_pushed_without_a_proof_binds_the_code(http, web, alice, key):
    pushed, verifier = push(http, web, dpop_jkt=key.thumbprint())
    assert pushed.status_code == 201, pushed.text
    callback = sign_in_pushed(http, web, pushed.json()["request_uri"])
    assert_bound_code(http, web, callback, verifier, key)


def test_par_with_dpop_jkt_and_a_proof_of_the_same_key(http, web, alice, key):
    pushed, verifier = push(http, web, proof(key, htu=PAR), dpop_jkt=key.thumbprint())
    assert pushed.status_code == 201, pushed.text
    callback = sign_in_pushed(http, web, pushed.json()["request_uri"])
    assert_bound_code(http, web, callback, verifier, key)


def test_par_refuses_dpop_jkt_of_another_key_than_the_proof(http, web, key):
    # RFC 9449 §10.1: "MUST reject the request if the JWK Thumbprint in dpop_jkt does not match".
    pushed, _ = push(http, web, proof(key, htu=PAR), dpop_jkt=new_key("ES256").thumbprint())
    assert pushed.status_code == 400
    assert pushed.json() == {
        "error": "invalid_request",
        "error_description": "dpop_jkt does not match the key of the DPoP proof",
    }


def test_par_refuses_a_broken_proof(http, web, key):
    for broken in (proof(key), proof(key, htm="GET", htu=PAR), "not-a-jwt"):  # the first is for /token
        pushed, _ = push(http, web, broken)
        assert_proof_error(pushed)
    replayed = proof(key, htu=PAR)
    assert push(http, web, replayed)[0].status_code == 201
    assert_proof_error(push(http, web, replayed)[0], words="")


def test_par_refuses_a_malformed_dpop_jkt(http, web):
    pushed, _ = push(http, web, dpop_jkt="not a thumbprint")
    assert pushed.status_code == 400
    assert pushed.json()["error"] == "invalid_request"
    assert "dpop_jkt" in pushed.json()["error_description"]


# --- /userinfo --------------------------------------------------------------------------------


def userinfo(http, token: str, value: str | None, scheme: str = "DPoP", method: str = "GET"):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"{scheme} {token}"}
    if value is not None:
        headers["DPoP"] = value
    return http.request(method, "/userinfo", headers=headers)


def assert_dpop_challenge(response, error: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{error}"' in challenge
    assert 'algs="ES256 RS256 PS256 EdDSA Ed25519"' in challenge
    assert response.json()["error"] == error


@pytest.fixture
def bound(http, spa, alice, key) -> str:
    return user_tokens(http, spa, key)["access_token"]


def test_userinfo_with_a_dpop_bound_token_and_proof(http, bound, key):
    response = userinfo(http, bound, proof(key, "GET", USERINFO, access_token=bound))
    assert response.status_code == 200, response.text
    assert response.json()["preferred_username"] == "alice"
    post = userinfo(http, bound, proof(key, "POST", USERINFO, access_token=bound), method="POST")
    assert post.status_code == 200


def test_userinfo_refuses_bound_token_as_bearer(http, bound, key):
    assert_dpop_challenge(userinfo(http, bound, None, scheme="Bearer"), "invalid_token")
    # A proof alongside does not help: the Bearer scheme cannot carry a bound token.
    assert_dpop_challenge(
        userinfo(http, bound, proof(key, "GET", USERINFO, access_token=bound), scheme="Bearer"), "invalid_token"
    )


def test_userinfo_unhappy_proofs(http, bound, key):
    other = new_key("ES256")
    cases = {
        "no-proof": None,
        "another-key": proof(other, "GET", USERINFO, access_token=bound),
        "no-ath": proof(key, "GET", USERINFO),
        "wrong-ath": proof(key, "GET", USERINFO, access_token="another-token"),
        "wrong-htm": proof(key, "POST", USERINFO, access_token=bound),
        "wrong-htu": proof(key, "GET", ISSUER + "/token", access_token=bound),
        "stale": proof(key, "GET", USERINFO, access_token=bound, iat=int(time.time()) - 300),
        "garbage": "x.y.z",
    }
    failures = []
    for name, value in cases.items():
        try:
            assert_dpop_challenge(userinfo(http, bound, value), "invalid_dpop_proof")
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


def test_userinfo_replayed_proof(http, bound, key):
    value = proof(key, "GET", USERINFO, access_token=bound)
    assert userinfo(http, bound, value).status_code == 200
    assert_dpop_challenge(userinfo(http, bound, value), "invalid_dpop_proof")


def test_userinfo_dpop_scheme_with_an_unbound_token(http, spa, alice, key):
    plain = user_tokens(http, spa, None)["access_token"]
    assert_dpop_challenge(userinfo(http, plain, proof(key, "GET", USERINFO, access_token=plain)), "invalid_token")


def test_userinfo_dpop_scheme_with_a_bad_token(http, key):
    assert_dpop_challenge(
        userinfo(http, "not-a-token", proof(key, "GET", USERINFO, access_token="not-a-token")), "invalid_token"
    )


def test_userinfo_without_credentials_offers_both_schemes(http):
    challenge = http.get("/userinfo").headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="authserver"')
    assert 'DPoP algs="' in challenge


def test_revoked_bound_token_is_refused(http, spa, alice, key):
    tokens = user_tokens(http, spa, key)
    revoke = http.post("/revoke", data={"token": tokens["refresh_token"], "client_id": spa["client_id"]})
    assert revoke.status_code == 200
    token = tokens["access_token"]
    assert_dpop_challenge(userinfo(http, token, proof(key, "GET", USERINFO, access_token=token)), "invalid_token")


# --- server nonces ----------------------------------------------------------------------------


@pytest.fixture
def nonce_http(make_app):  # type: ignore[no-untyped-def]
    return make_app(dpop_require_nonce=True)


def test_token_endpoint_asks_for_a_nonce_then_accepts_it(nonce_http, service, key):
    first = cc_request(nonce_http, service, proof(key))
    assert_proof_error(first, "use_dpop_nonce")
    nonce = first.headers["dpop-nonce"]
    second = cc_request(nonce_http, service, proof(key, nonce=nonce))
    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"
    assert second.headers["dpop-nonce"]  # the next one to use


@pytest.mark.parametrize("nonce", ["made-up", "1.AAAAAAAAAAAAAAAAAAAAAAAA", ""])
def test_forged_nonces_are_refused(nonce_http, service, key, nonce):
    assert_proof_error(cc_request(nonce_http, service, proof(key, nonce=nonce)), "use_dpop_nonce")


def test_nonce_expires(nonce_http, service, key, clock):
    from authserver.oauth import dpop

    nonce = cc_request(nonce_http, service, proof(key)).headers["dpop-nonce"]
    clock.advance(3 * dpop.NONCE_PERIOD)
    stale = proof(key, nonce=nonce, iat=int(clock()))
    response = cc_request(nonce_http, service, stale)
    assert_proof_error(response, "use_dpop_nonce")
    assert response.headers["dpop-nonce"] != nonce


def test_par_asks_for_a_nonce_then_binds_the_code(nonce_http, web, alice, key):
    asked, _ = push(nonce_http, web, proof(key, htu=PAR))
    assert_proof_error(asked, "use_dpop_nonce")
    pushed, verifier = push(nonce_http, web, proof(key, htu=PAR, nonce=asked.headers["dpop-nonce"]))
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["dpop-nonce"]
    callback = sign_in_pushed(nonce_http, web, pushed.json()["request_uri"])
    nonce = redeem(nonce_http, web, callback, verifier, key).headers["dpop-nonce"]  # asks for a fresh one
    data = {"grant_type": "authorization_code", "code": callback["code"], "code_verifier": verifier}
    data["redirect_uri"] = REDIRECT
    headers = {"DPoP": proof(key, nonce=nonce), **basic(web["client_id"], web["client_secret"])}
    assert nonce_http.post("/token", data=data, headers=headers).json()["token_type"] == "DPoP"


def test_userinfo_asks_for_a_nonce(nonce_http, spa, alice, key):
    callback, verifier, _ = sign_in(nonce_http, spa, scope="openid profile")
    data = {"grant_type": "authorization_code", "code": callback["code"], "code_verifier": verifier}
    data.update(redirect_uri=REDIRECT, client_id=spa["client_id"])
    asked = nonce_http.post("/token", data=data, headers={"DPoP": proof(key)})
    assert_proof_error(asked, "use_dpop_nonce")
    nonce = asked.headers["dpop-nonce"]
    token = nonce_http.post("/token", data=data, headers={"DPoP": proof(key, nonce=nonce)}).json()["access_token"]
    response = userinfo(nonce_http, token, proof(key, "GET", USERINFO, access_token=token))
    assert_dpop_challenge(response, "use_dpop_nonce")
    nonce = response.headers["dpop-nonce"]
    ok = userinfo(nonce_http, token, proof(key, "GET", USERINFO, access_token=token, nonce=nonce))
    assert ok.status_code == 200, ok.text
    assert ok.headers["dpop-nonce"]


def test_discovery_lists_dpop_algorithms(http):
    meta = http.get("/.well-known/openid-configuration").json()
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256", "EdDSA", "Ed25519"]
