"""What an emptied cache forgets: nothing that still matters.

Revoked access tokens, revoked grants and used private_key_jwt assertion ids are written to the
database as well as the cache. After the cache is wiped (Redis: every key of the test's prefix
deleted, as FLUSHDB would; the in-process cache: a fresh process) no revoked token is active again
and no used assertion is accepted again. Rows are purged once they can no longer matter.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.conftest import REDIS_URL
from tests.helpers import basic, client_token, exchange, sign_in

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REDIRECT = "https://app.example/cb"


@pytest.fixture
def wiped(env, make_app):  # type: ignore[no-untyped-def]
    """Empty the cache and return an app that uses it: Redis loses every key of this test's prefix,
    the in-process cache is a new process's (a restart)."""

    def wipe():  # type: ignore[no-untyped-def]
        if REDIS_URL:
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            keys = list(r.scan_iter(match=env["AUTHSERVER_CACHE_PREFIX"] + "*", count=1000))
            assert keys, "the test should have put something in the cache"
            r.delete(*keys)
            assert not list(r.scan_iter(match=env["AUTHSERVER_CACHE_PREFIX"] + "*"))
            r.close()
        return make_app()

    return wipe


def introspect(http, client: dict, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = http.post(
        "/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text
    return response.json()


def revoke(http, client: dict, token: str) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/revoke", data={"token": token}, headers=basic(client["client_id"], client["client_secret"]))
    assert response.status_code == 200, response.text


def test_a_revoked_access_token_stays_revoked_after_a_cache_wipe(http, register, wiped):
    service = register()
    revoked = client_token(http, service)["access_token"]
    live = client_token(http, service)["access_token"]
    revoke(http, service, revoked)
    assert introspect(http, service, revoked) == {"active": False}

    fresh = wiped()
    assert introspect(fresh, service, revoked) == {"active": False}
    assert introspect(http, service, revoked) == {"active": False}
    # The reload denies only what was revoked.
    assert introspect(fresh, service, live)["active"] is True


def test_a_revoked_grant_stays_revoked_after_a_cache_wipe(http, register, alice, wiped):
    app = register("--grant-type", "authorization_code", "--grant-type", "refresh_token", "--redirect-uri", REDIRECT)
    callback, verifier, _ = sign_in(http, app, scope="openid offline_access")
    tokens = exchange(http, app, callback["code"], verifier).json()
    # Revoking the refresh token revokes its grant, and so the access token issued with it.
    revoke(http, app, tokens["refresh_token"])
    assert introspect(http, app, tokens["access_token"]) == {"active": False}

    fresh = wiped()
    assert introspect(fresh, app, tokens["access_token"]) == {"active": False}
    refreshed = fresh.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(app["client_id"], app["client_secret"]),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    user = fresh.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert user.status_code == 401


def test_a_replayed_code_still_denies_its_tokens_after_a_cache_wipe(http, register, alice, wiped):
    app = register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT)
    callback, verifier, _ = sign_in(http, app, scope="openid")
    tokens = exchange(http, app, callback["code"], verifier).json()
    assert exchange(http, app, callback["code"], verifier).status_code == 400  # replay: the grant is revoked
    assert introspect(http, app, tokens["access_token"]) == {"active": False}
    assert introspect(wiped(), app, tokens["access_token"]) == {"active": False}


@pytest.fixture
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


@pytest.fixture
def jwt_client(register, key, tmp_path) -> dict:  # type: ignore[no-untyped-def]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KeySet([key]).as_dict(private=False)))
    return register("--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", str(path))


def assertion_request(http, client_id: str, key: RSAKey, jti: str):  # type: ignore[no-untyped-def]
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "http://testserver/token", "exp": now + 120, "jti": jti}
    return http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key),
        },
    )


def test_a_used_assertion_is_refused_after_a_cache_wipe(http, jwt_client, key, wiped):
    jti = uuid.uuid4().hex
    assert assertion_request(http, jwt_client["client_id"], key, jti).status_code == 200
    assert assertion_request(http, jwt_client["client_id"], key, jti).status_code == 401
    fresh = wiped()
    replay = assertion_request(fresh, jwt_client["client_id"], key, jti)
    assert replay.status_code == 401
    assert replay.json()["error_description"] == "Client assertion has already been used"
    # A new assertion id is accepted as before.
    assert assertion_request(fresh, jwt_client["client_id"], key, uuid.uuid4().hex).status_code == 200


def _rows(env) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT kind, expires_at FROM revocations"))]
    finally:
        engine.dispose()


def test_rows_are_purged_once_their_tokens_have_expired(http, register, env, clock):
    service = register()
    first = client_token(http, service)["access_token"]
    revoke(http, service, first)
    rows = _rows(env)
    assert [kind for kind, _ in rows] == ["jti"]
    assert rows[0][1] <= time.time() + 900 + 10  # kept no longer than the token lives

    # An hour later the first token has expired: the next revocation drops its row.
    clock.advance(3600)
    later = clock()
    second = client_token(http, service)["access_token"]
    revoke(http, service, second)
    rows = _rows(env)
    assert len(rows) == 1 and rows[0][1] > later
    assert introspect(http, service, second) == {"active": False}


def test_the_reload_fails_closed_when_the_database_is_unreachable(wiped, http, register, monkeypatch):
    """An emptied cache cannot be trusted until the database copy is back: 503, never "active"."""
    from authserver.errors import StorageUnavailable
    from authserver.store.sql.revocations import SqlRevocationStore

    service = register()
    token = client_token(http, service)["access_token"]

    def down(self, **_):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("database unavailable")

    # The revocations table cannot be read from the start: the warm-up at start-up fails too.
    monkeypatch.setattr(SqlRevocationStore, "list_revocations", down)
    fresh = wiped()
    response = fresh.post(
        "/introspect", data={"token": token}, headers=basic(service["client_id"], service["client_secret"])
    )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    monkeypatch.undo()
    assert introspect(fresh, service, token)["active"] is True
