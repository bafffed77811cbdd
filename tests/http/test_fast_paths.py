"""Requests answered from memory on the event loop (endpoints/protocol.py): a client-credentials token
and the introspection of our own JWT, once the client record, the keys and a rate-limit lease are in
this process. The answers must be the same as through the worker thread, limits and revocations
included. Thread hops are counted by wrapping the edge's run_sync."""

from __future__ import annotations

import time

import pytest

from authserver.endpoints import protocol as oauth_edge
from tests.conftest import REDIS_URL
from tests.helpers import MovableClock, basic, client_token
from tests.http.client_assertions import assertion, token_request

WARM = {"client_cache_seconds": 60, "key_refresh_seconds": 60, "revocation_sync_seconds": 60}


@pytest.fixture
def hops(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = oauth_edge.run_sync

    async def counting(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(getattr(func, "__name__", "?"))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(oauth_edge, "run_sync", counting)
    return seen


@pytest.fixture
def frozen(clock: MovableClock) -> MovableClock:
    """The app's clock stopped one second into a minute window, so a rate-limit window cannot end mid-test."""
    clock.freeze((time.time() // 60 + 1) * 60 + 1)
    return clock


def introspect(http, client, token):  # type: ignore[no-untyped-def]
    return http.post("/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"]))


def test_tokens_from_memory_are_valid_and_the_limit_still_holds_exactly(make_app, register, api, hops, frozen):
    # 200/minute: leases of 2, so every other request needs the shared counter (a thread hop).
    http = make_app(rate_limit_token="200/minute", **WARM)
    client = register("--scope", "api:read")
    statuses = [
        http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client["client_id"], client["client_secret"]),
        )
        for _ in range(202)
    ]
    assert [r.status_code for r in statuses].count(200) == 200
    assert [r.status_code for r in statuses[200:]] == [429, 429]
    assert 95 <= len(hops) <= 105  # about one hop per lease, not one per request
    # A token issued on the event loop is a normal token.
    token = statuses[-3].json()["access_token"]
    body = introspect(http, client, token).json()
    assert body["active"] is True and body["client_id"] == client["client_id"] and body["scope"] == "api:read"


def test_other_grants_and_uncached_clients_take_the_thread(make_app, register, hops):
    http = make_app(**WARM)
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    assert http.post("/token", data={"grant_type": "client_credentials"}, headers=auth).status_code == 200
    assert len(hops) == 1  # the client record was not in memory yet
    refused = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 43}, headers=auth)
    assert refused.status_code == 400
    assert len(hops) == 2  # a refresh token is in the database
    assert (
        http.post("/token", data={"grant_type": "client_credentials"}, headers=basic("nobody", "x")).status_code == 401
    )
    assert len(hops) == 3  # an unknown client is never "in memory"


def test_a_client_assertion_is_still_single_use_with_the_client_in_memory(make_app, jwt_client, key, hops):
    http = make_app(**WARM)
    assert token_request(http, assertion(jwt_client["client_id"], key)).status_code == 200
    used = assertion(jwt_client["client_id"], key)
    assert token_request(http, used).status_code == 200
    replayed = token_request(http, used)
    assert replayed.status_code == 401
    assert len(hops) == 3  # the replay check is a write to the shared cache: always in the thread


def test_introspection_from_memory_sees_revocations(make_app, register, api, hops):
    http = make_app(**WARM)
    client = register()
    token = client_token(http, client)["access_token"]
    assert introspect(http, client, token).json()["active"] is True
    before = len(hops)
    assert introspect(http, client, token).json()["active"] is True
    assert introspect(http, client, token[:-6] + "AAAAAA").json() == {"active": False}
    assert introspect(http, client, "e30.e30.e30").json() == {"active": False}
    assert len(hops) == before  # answered on the event loop
    assert (
        http.post(
            "/revoke", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
        ).status_code
        == 200
    )
    assert introspect(http, client, token).json() == {"active": False}


def test_introspection_from_memory_sees_a_revocation_made_by_another_process(make_app, register, api, hops):
    if not REDIS_URL:
        pytest.skip("revocations reach other processes through Redis only")
    one, other = make_app(**WARM), make_app(**WARM)
    client = register()
    token = client_token(one, client)["access_token"]
    for http in (one, other):
        assert introspect(http, client, token).json()["active"] is True
    before = len(hops)
    assert (
        other.post(
            "/revoke", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
        ).status_code
        == 200
    )
    assert introspect(one, client, token).json() == {"active": False}
    assert hops[before:] == ["work"]  # the revocation; the introspection stayed on the loop


def test_a_refresh_token_is_introspected_in_the_thread(make_app, register, api, hops):
    http = make_app(**WARM)
    assert introspect(http, api, "e30.e30.e30").status_code == 200
    before = len(hops)
    assert introspect(http, api, "x" * 43).json() == {"active": False}
    assert len(hops) == before + 1


def test_a_dpop_proof_is_checked_for_replay_with_the_client_in_memory(make_app, register, api, hops):
    from tests.dpop_proofs import new_key, proof

    http = make_app(**WARM)
    client = register()
    auth = list(basic(client["client_id"], client["client_secret"]).items())
    assert client_token(http, client)["token_type"] == "Bearer"  # the client record is now in memory
    before = len(hops)
    dpop_key = new_key("ES256")
    value = proof(dpop_key)
    first = http.post("/token", data={"grant_type": "client_credentials"}, headers=[*auth, ("DPoP", value)])
    assert first.status_code == 200 and first.json()["token_type"] == "DPoP"
    replayed = http.post("/token", data={"grant_type": "client_credentials"}, headers=[*auth, ("DPoP", value)])
    assert replayed.status_code == 400
    assert len(hops) == before + 2  # a proof's jti is recorded in the shared cache: always in the thread
    # Its DPoP-bound token introspects with its key binding, from memory.
    body = introspect(http, client, first.json()["access_token"]).json()
    assert body["active"] is True and body["token_type"] == "DPoP" and "jkt" in body["cnf"]
