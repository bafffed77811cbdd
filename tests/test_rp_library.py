"""An off-the-shelf OIDC relying party (authlib's Starlette client) signs a user in against a real
server process, knowing nothing but the issuer URL: discovery, authorization code + PKCE, token
exchange, ID token validation against the JWKS (signature, iss, aud, exp, nonce, at_hash), userinfo
and RP-initiated logout."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.starlette_client import OAuth

from tests.helpers import PASSWORD, forms
from tests.server import start, stop

pytestmark = pytest.mark.slow
REDIRECT_URI = "https://rp.example/callback"


def browser_walk(browser: httpx.Client, url: str) -> str:
    """Follow the server's pages like a person: sign in, allow; return the callback URL."""
    response = browser.get(url)
    while response.status_code in (302, 303) and not response.headers["location"].startswith(REDIRECT_URI):
        location = response.headers["location"]
        page = browser.get(location)
        form = forms(page.text)[0]
        data = dict(form["fields"])
        if "password" in data:
            data.update(username="carol", password=PASSWORD)
        else:
            data["decision"] = "allow"
        response = browser.post(form["action"], data=data)
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


def test_authlib_rp_signs_in_with_discovery_only(env, cli, register, tmp_path):
    assert (
        cli(
            "user",
            "create",
            "--username",
            "carol",
            "--email",
            "carol@example.com",
            "--name",
            "Carol",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        ).code
        == 0
    )
    client = register(
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT_URI,
        "--post-logout-redirect-uri",
        "https://rp.example/bye",
    )
    proc, issuer = start(env, tmp_path)
    try:
        asyncio.run(_relying_party(issuer, client))
    finally:
        stop(proc)


async def _relying_party(issuer: str, client: dict) -> None:
    oauth = OAuth()
    rp = oauth.register(
        "authserver",
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    auth = await rp.create_authorization_url(REDIRECT_URI, nonce="n-0S6_WzA2Mj")
    assert auth["url"].startswith(f"{issuer}/authorize?")
    with httpx.Client(base_url=issuer) as browser:
        callback = await asyncio.to_thread(browser_walk, browser, auth["url"])
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert params["state"] == auth["state"]
    assert params["iss"] == issuer  # RFC 9207, checked by the RP against discovery's issuer

    token = await rp.fetch_access_token(REDIRECT_URI, code=params["code"], code_verifier=auth["code_verifier"])
    assert {"access_token", "id_token", "refresh_token"} <= token.keys()
    # parse_id_token fetches jwks_uri from discovery and validates signature, iss, aud, exp, iat,
    # nonce and at_hash (CodeIDToken).
    claims = await rp.parse_id_token(token, nonce="n-0S6_WzA2Mj")
    assert claims["iss"] == issuer
    assert claims["aud"] == client["client_id"]
    userinfo = await rp.userinfo(token=token)
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["email"] == "carol@example.com" and userinfo["name"] == "Carol"

    logout = await rp.create_logout_url(
        post_logout_redirect_uri="https://rp.example/bye", id_token_hint=token["id_token"]
    )
    async with httpx.AsyncClient() as http:
        response = await http.get(logout["url"])
    assert response.status_code == 303
    assert response.headers["location"] == f"https://rp.example/bye?state={logout['state']}"
