"""Interoperability with an off-the-shelf OAuth client library (requests-oauth2client) against a real
server process, configured from discovery alone: pushed authorization requests (RFC 9126) and DPoP
(RFC 9449) with the library's own proofs, nonce handling and refresh."""

from __future__ import annotations

import httpx
import pytest
from requests_oauth2client import ClientSecretBasic, OAuth2Client, PublicApp

from tests.helpers import PASSWORD, forms
from tests.server import start, stop

pytestmark = pytest.mark.slow
REDIRECT_URI = "https://rp.example/callback"


def browser_walk(url: str) -> str:
    """Follow the server's pages like a person: sign in as alice, allow; return the callback URL."""
    with httpx.Client() as browser:
        response = browser.get(url)
        while response.status_code in (302, 303) and not response.headers["location"].startswith(REDIRECT_URI):
            page = browser.get(httpx.URL(url).join(response.headers["location"]))
            form = forms(page.text)[0]
            data = dict(form["fields"])
            if "password" in data:
                data.update(username="alice", password=PASSWORD)
            else:
                data["decision"] = "allow"
            response = browser.post(httpx.URL(url).join(form["action"]), data=data)
        assert response.status_code in (302, 303), response.text
        return response.headers["location"]


@pytest.fixture
def server(env, tmp_path):  # type: ignore[no-untyped-def]
    proc, issuer = start(env, tmp_path)
    yield issuer
    stop(proc)


@pytest.fixture
def nonce_server(env, tmp_path):  # type: ignore[no-untyped-def]
    proc, issuer = start({**env, "AUTHSERVER_DPOP_REQUIRE_NONCE": "true"}, tmp_path)
    yield issuer
    stop(proc)


def library_client(issuer: str, client: dict, **kwargs) -> OAuth2Client:  # type: ignore[no-untyped-def]
    return OAuth2Client.from_discovery_endpoint(
        issuer=issuer,
        # registered for client_secret_basic (the library's default would be client_secret_post)
        auth=ClientSecretBasic(client["client_id"], client["client_secret"])
        if client.get("client_secret")
        else PublicApp(client["client_id"]),
        redirect_uri=REDIRECT_URI,
        testing=True,  # the test server is plain http on loopback
        **kwargs,
    )


def test_library_pushes_an_authorization_request(register, alice, server):
    client = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI, "--require-par", name="rp")
    rp = library_client(server, client)
    assert rp.pushed_authorization_request_endpoint == server + "/par"
    request = rp.authorization_request(scope="openid profile email")
    pushed = rp.pushed_authorization_request(request)
    assert pushed.request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    callback = browser_walk(pushed.uri)
    response = request.validate_callback(callback)  # state and iss (RFC 9207) checked by the library
    token = rp.authorization_code(response)  # ID token validated against the JWKS (nonce, iss, aud, sig)
    assert token.token_type.lower() == "bearer"
    assert rp.userinfo(token)["preferred_username"] == "alice"


@pytest.mark.parametrize("nonces", [False, True], ids=["plain", "server-nonce"])
def test_library_binds_tokens_to_its_dpop_key(register, alice, request, nonces):
    issuer = request.getfixturevalue("nonce_server" if nonces else "server")
    client = register(
        "--public",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT_URI,
        "--require-dpop",
        name="spa",
    )
    rp = library_client(issuer, client, dpop_bound_access_tokens=True)
    auth = rp.authorization_request(scope="openid profile offline_access")
    pushed = rp.pushed_authorization_request(auth)  # PAR and DPoP together, as FAPI 2.0 clients do
    response = auth.validate_callback(browser_walk(pushed.uri))
    # The library retries by itself on use_dpop_nonce. validate=False: requests-oauth2client 1.8.0 cannot
    # rebuild a DPoPToken after validating its ID token (it drops the key); the PAR test above covers
    # ID-token validation by the library.
    token = rp.authorization_code(response, validate=False)
    assert token.token_type == "DPoP"
    # The token is sent as "Authorization: DPoP" with a fresh proof carrying ath (and the RS nonce).
    assert rp.userinfo(token)["preferred_username"] == "alice"
    refreshed = rp.refresh_token(token)  # bound to the same key: the library proves it again
    assert refreshed.token_type == "DPoP"
    assert rp.userinfo(refreshed)["sub"] == rp.userinfo(token)["sub"]
    # Presented as a plain Bearer token, the bound token is refused with a DPoP challenge.
    plain = httpx.get(issuer + "/userinfo", headers={"Authorization": f"Bearer {refreshed.access_token}"})
    assert plain.status_code == 401
    assert plain.headers["www-authenticate"].startswith("DPoP ")
