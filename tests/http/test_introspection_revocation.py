"""POST /introspect (RFC 7662) and POST /revoke (RFC 7009)."""

from __future__ import annotations

import base64

import pytest

from tests.helpers import basic, client_token


def introspect(http, client, token, **extra):
    return http.post(
        "/introspect", data={"token": token, **extra}, headers=basic(client["client_id"], client["client_secret"])
    )


def revoke(http, client, token, **extra):
    return http.post(
        "/revoke", data={"token": token, **extra}, headers=basic(client["client_id"], client["client_secret"])
    )


def test_active_token_is_described(http, register):
    client = register("--scope", "api:read", "--resource", "https://api.example")
    resource_server = register("--introspect", "https://api.example", name="api")
    token = client_token(http, client)["access_token"]
    response = introspect(http, resource_server, token)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == client["client_id"]
    assert body["sub"] == client["client_id"]
    assert body["scope"] == "api:read"
    assert body["aud"] == "https://api.example"
    assert body["iss"] == "http://testserver"
    assert body["token_type"] == "Bearer"
    assert {"exp", "iat", "jti"} <= body.keys()


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 5000])
def test_unknown_or_malformed_tokens_are_inactive(http, register, token):
    response = introspect(http, register(), token)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_tampered_token_is_inactive(http, register):
    client = register("--scope", "a")
    token = client_token(http, client)["access_token"]
    header, payload, signature = token.split(".")
    forged = ".".join([header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature])
    assert introspect(http, client, forged).json() == {"active": False}


def test_forged_headers_signatures_and_encodings_are_inactive(http, register):
    import json

    from joserfc import jwt
    from joserfc.jwk import OctKey, RSAKey

    client = register("--scope", "a")
    token = client_token(http, client)["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    other_key = RSAKey.generate_key(2048)
    forgeries = [
        # Our header and claims, signed by another key.
        jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": kid}, claims, other_key),
        # An HMAC "signature" keyed with something public (RFC 8725 §2.1 algorithm confusion).
        jwt.encode({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, OctKey.import_key(b"k" * 32)),
        # The real signature, but in base64 with "+/" or padding: not the compact serialization.
        ".".join([header, payload, signature.replace("-", "+").replace("_", "/") + "=="]),
        ".".join([header, payload, signature, ""]),
        ".".join([header + "=", payload, signature]),
    ]
    assert introspect(http, client, token).json()["active"] is True
    for forged in forgeries:
        if forged == token:
            continue
        assert introspect(http, client, forged).json() == {"active": False}, forged


def test_expired_token_is_inactive(make_app, register, clock):
    http = make_app(access_token_ttl=60)
    client = register()
    token = client_token(http, client)["access_token"]
    assert introspect(http, client, token).json()["active"] is True
    # Move the wall clock past expiry instead of sleeping: a loaded CI machine made a 1 s lifetime race the first check.
    clock.advance(120)
    assert introspect(http, client, token).json() == {"active": False}


def test_unknown_hint_only_widens_the_search(http, register):
    client = register()
    token = client_token(http, client)["access_token"]
    for hint in ("refresh_token", "weird"):
        assert introspect(http, client, token, token_type_hint=hint).json()["active"] is True


def test_introspection_requires_client_authentication(http, register):
    token = client_token(http, register())["access_token"]
    response = http.post("/introspect", data={"token": token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    wrong = http.post("/introspect", data={"token": token}, headers=basic("nobody", "nothing"))
    assert wrong.status_code == 401


def test_missing_token_parameter_is_invalid_request(http, register):
    client = register()
    for path in ("/introspect", "/revoke"):
        response = http.post(path, data={}, headers=basic(client["client_id"], client["client_secret"]))
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


def test_revoked_access_token_is_inactive_from_then_on(http, register):
    client = register()
    token = client_token(http, client)["access_token"]
    response = revoke(http, client, token)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert introspect(http, client, token).json() == {"active": False}
    # Revoking again, or revoking garbage, is still 200 (RFC 7009 §2.2).
    assert revoke(http, client, token).status_code == 200
    assert revoke(http, client, "garbage").status_code == 200
    # Other tokens of the same client stay active.
    assert introspect(http, client, client_token(http, client)["access_token"]).json()["active"] is True


def test_revocation_is_seen_by_another_app_instance(make_app, register):
    """The denylist lives in the shared cache and the database: every worker sees it (with the
    in-process cache, through the database within AUTHSERVER_REVOCATION_SYNC_SECONDS, 0 here)."""
    client = register()
    first, second = make_app(), make_app()
    token = client_token(first, client)["access_token"]
    assert introspect(second, client, token).json()["active"] is True
    assert revoke(first, client, token).status_code == 200
    assert introspect(second, client, token).json() == {"active": False}


def test_a_client_cannot_revoke_another_clients_token(http, register):
    owner, other = register(name="owner"), register(name="other")
    token = client_token(http, owner)["access_token"]
    response = revoke(http, other, token)
    assert response.status_code == 400
    assert introspect(http, owner, token).json()["active"] is True


def test_revocation_requires_client_authentication(http, register):
    client = register()
    token = client_token(http, client)["access_token"]
    assert http.post("/revoke", data={"token": token}).status_code == 401
    assert introspect(http, client, token).json()["active"] is True
