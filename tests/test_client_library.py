"""Interoperability with an off-the-shelf OAuth client library (requests-oauth2client) against a real
server process, configured from discovery alone: pushed authorization requests (RFC 9126)."""

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
