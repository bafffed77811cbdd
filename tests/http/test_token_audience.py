"""Who may introspect a token, and which tokens /userinfo accepts (RFC 7662 §4, RFC 8707, RFC 9068).

Only the token's own client, or a client registered with `--introspect AUDIENCE` as the resource server
for one of the token's audiences, learns anything about a token; any other client gets
{"active": false}, as for an unknown token. /userinfo accepts only tokens whose `aud` includes the
issuer (the userinfo resource) or the client itself (the default audience).
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.helpers import basic, client_token, exchange, jwt_parts, sign_in

API = "https://api.example.com"
OTHER_API = "https://other.example.com"
ISSUER = "http://testserver"
REDIRECT = "https://app.example/cb"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def introspect(http, client: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def service(register) -> dict:  # type: ignore[no-untyped-def]
    return register("--resource", API, "--resource", OTHER_API, name="service")


@pytest.fixture
def servers(register) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {
        "api": register("--introspect", API, name="api"),
        "other": register("--introspect", OTHER_API, name="other"),
        "both": register("--introspect", API, "--introspect", OTHER_API, name="both"),
        "plain": register(name="plain"),  # a confidential client that is no resource server
    }


def test_only_the_tokens_client_and_its_audiences_resource_servers_may_introspect(http, service, servers):
    token = client_token(http, service, resource=API)["access_token"]
    assert jwt_parts(token)[1]["aud"] == API
    assert introspect(http, service, token)["active"] is True
    assert introspect(http, servers["api"], token)["active"] is True
    assert introspect(http, servers["both"], token)["active"] is True
    assert introspect(http, servers["other"], token) == {"active": False}
    assert introspect(http, servers["plain"], token) == {"active": False}


def test_a_token_for_two_audiences_is_open_to_the_resource_server_of_each(http, service, servers):
    response = http.post(
        "/token",
        content=urlencode([("grant_type", "client_credentials"), ("resource", API), ("resource", OTHER_API)]),
        headers={
            **basic(service["client_id"], service["client_secret"]),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert jwt_parts(token)[1]["aud"] == [API, OTHER_API]
    assert introspect(http, servers["api"], token)["active"] is True
    assert introspect(http, servers["other"], token)["active"] is True
    assert introspect(http, servers["plain"], token) == {"active": False}


def test_a_default_audience_token_is_the_clients_own(http, register, servers):
    service = register(name="service")
    token = client_token(http, service)["access_token"]
    assert jwt_parts(token)[1]["aud"] == service["client_id"]
    assert introspect(http, service, token)["active"] is True
    for other in servers.values():
        assert introspect(http, other, token) == {"active": False}


def test_a_refresh_token_concerns_its_client_only(http, register, servers, alice):
    app = register(
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
        "--redirect-uri", REDIRECT, "--resource", API, name="app",
    )  # fmt: skip
    callback, verifier, _ = sign_in(http, app, scope="openid offline_access", resource=API)
    tokens = exchange(http, app, callback["code"], verifier).json()
    assert introspect(http, app, tokens["refresh_token"])["active"] is True
    assert introspect(http, servers["api"], tokens["refresh_token"]) == {"active": False}
    # The access token is for the API: its resource server may see it.
    assert introspect(http, servers["api"], tokens["access_token"])["active"] is True


def test_introspect_is_registered_and_changed_through_the_cli(http, cli, register, service):
    token = client_token(http, service, resource=API)["access_token"]
    rs = register(name="rs")
    assert rs["introspect"] == []
    assert introspect(http, rs, token) == {"active": False}

    updated = cli("client", "update", rs["client_id"], "--introspect", API, "--json")
    assert updated.code == 0, updated.err
    assert updated.json()["introspect"] == [API]
    assert cli("client", "show", rs["client_id"], "--json").json()["introspect"] == [API]
    assert introspect(http, rs, token)["active"] is True

    assert cli("client", "update", rs["client_id"], "--no-introspect").code == 0
    assert introspect(http, rs, token) == {"active": False}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "--name", "x", "--introspect", "not a uri"), "--introspect must be an absolute URI"),
        (("create", "--name", "x", "--introspect", "https://api.example/#frag"), "--introspect must be"),
        (
            ("create", "--name", "x", "--public", "--grant-type", DEVICE, "--introspect", API),
            "confidential clients",
        ),
        (("update", "NOPE"), "--introspect AUDIENCE"),
        (("update", "NOPE", "--introspect", API), "no client 'NOPE'"),
    ],
)
def test_bad_introspect_arguments_are_refused(cli, args, message):
    result = cli("client", *args)
    assert result.code != 0
    assert message in result.err


def test_update_refuses_both_flags_and_a_public_client(cli, register):
    rs = register(name="rs")
    both = cli("client", "update", rs["client_id"], "--introspect", API, "--no-introspect")
    assert both.code != 0 and "either" in both.err
    public = register("--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code", name="tv")
    refused = cli("client", "update", public["client_id"], "--introspect", API)
    assert refused.code != 0 and "confidential clients" in refused.err


# --- /userinfo and the audience -------------------------------------------------------------------------


@pytest.fixture
def app(register, alice) -> dict:  # type: ignore[no-untyped-def]
    return register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT,
        "--resource", API, "--resource", ISSUER, name="app",
    )  # fmt: skip


def user_token(http, app: dict, **extra: str) -> str:  # type: ignore[no-untyped-def]
    callback, verifier, _ = sign_in(http, app, **extra)
    response = exchange(http, app, callback["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def userinfo(http, token: str):  # type: ignore[no-untyped-def]
    return http.get("/userinfo", headers={"Authorization": "Bearer " + token})


def test_userinfo_refuses_a_token_minted_for_another_api(http, app):
    token = user_token(http, app, resource=API)
    assert jwt_parts(token)[1]["aud"] == API
    response = userinfo(http, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"


def test_userinfo_accepts_the_issuer_as_audience(http, app):
    token = user_token(http, app, resource=ISSUER)
    assert jwt_parts(token)[1]["aud"] == ISSUER
    assert userinfo(http, token).status_code == 200


def test_userinfo_accepts_the_default_audience(http, register, alice):
    plain = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="plain")
    token = user_token(http, plain)
    assert jwt_parts(token)[1]["aud"] == plain["client_id"]
    assert userinfo(http, token).json()["sub"] == alice["id"]
