"""Whose budget a request spends (issue 9 finding 7): every request spends its source address's budget
(an IPv4 address, an IPv6 /64) before anything is looked up; a client's own budget only once the client
authenticated, and a public client's per client and address. So naming a client_id costs that client
nothing, and made-up client_ids cost the caller's address. (Parallel requests against running servers:
tests/ops/test_rate_limit_keys.py.)"""

from __future__ import annotations

import pytest

from authserver.store.sql.clients import SqlClientStore
from tests.helpers import basic
from tests.pages import browser_from

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CC = {"grant_type": "client_credentials"}
STRANGER, VICTIM = "198.51.100.7", "203.0.113.20"


def forged(victim: dict) -> list[tuple[dict, dict]]:
    """Requests naming the victim without its credentials: (form, headers)."""
    cid = victim["client_id"]
    return [
        (CC, basic(cid, "not-the-secret")),
        ({**CC, "client_id": cid, "client_secret": "not-the-secret"}, {}),
        ({**CC, "client_id": cid}, {}),
    ]


def test_a_stranger_naming_a_client_spends_only_its_own_address(make_app, register):
    http = make_app(rate_limit_token="3/minute", rate_limit_token_ip="30/minute")
    victim = register(name="victim")
    stranger, owner = browser_from(http, STRANGER), browser_from(http, VICTIM)
    statuses = [
        stranger.post("/token", data=form, headers=headers).status_code
        for _ in range(12)
        for form, headers in forged(victim)
    ]
    assert statuses == [401] * 30 + [429] * 6  # the stranger's address ran out, after 30
    # Ten times the victim's budget was sent in its name; none of it was charged to the victim.
    auth = basic(victim["client_id"], victim["client_secret"])
    assert [owner.post("/token", data=CC, headers=auth).status_code for _ in range(3)] == [200, 200, 200]
    # Its own budget still counts its own authenticated requests.
    limited = owner.post("/token", data=CC, headers=auth)
    assert limited.status_code == 429
    assert limited.json()["error"] == "too_many_requests"
    assert "retry-after" in limited.headers


def test_an_authenticated_client_is_limited_on_every_address(make_app, register):
    http = make_app(rate_limit_token="3/minute")
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    statuses = [
        browser_from(http, f"192.0.2.{i}").post("/token", data=CC, headers=auth).status_code for i in range(1, 5)
    ]
    assert statuses == [200, 200, 200, 429]


def test_ipv6_addresses_share_the_budget_of_their_64(make_app, register):
    http = make_app(rate_limit_token_ip="4/minute")
    client = register()
    auth = basic(client["client_id"], client["client_secret"])
    rotating = [browser_from(http, f"2001:db8:7:7::{i:x}") for i in range(1, 6)]
    assert [b.post("/token", data=CC, headers=auth).status_code for b in rotating] == [200, 200, 200, 200, 429]
    # The next /64 is another source.
    assert browser_from(http, "2001:db8:7:8::1").post("/token", data=CC, headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("path", "setting"),
    [("/introspect", "rate_limit_introspect_ip"), ("/revoke", "rate_limit_revoke_ip")],
)
def test_introspection_and_revocation_are_limited_per_address_before_authentication(make_app, register, path, setting):
    http = make_app(**{setting: "2/minute"})
    victim = register()
    stranger = browser_from(http, STRANGER)
    statuses = [stranger.post(path, data={"token": "x"}, headers=basic(victim["client_id"], "wrong")).status_code]
    statuses += [stranger.post(path, data={"token": "x"}).status_code for _ in range(2)]
    assert statuses == [401, 401, 429]
    auth = basic(victim["client_id"], victim["client_secret"])
    assert browser_from(http, VICTIM).post(path, data={"token": "x"}, headers=auth).status_code == 200


def test_a_public_clients_budget_is_kept_per_address(make_app, register):
    """Anyone may name a public client (it has no credentials): a stranger spending "its" device codes
    spends them for the stranger's address only."""
    http = make_app(device_codes_per_minute=2)
    tv = register("--public", "--grant-type", DEVICE_GRANT, name="Living Room TV")
    stranger, household = browser_from(http, STRANGER), browser_from(http, VICTIM)
    form = {"client_id": tv["client_id"]}
    statuses = [stranger.post("/device_authorization", data=form).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert [household.post("/device_authorization", data=form).status_code for _ in range(2)] == [200, 200]
    assert household.post("/device_authorization", data=form).status_code == 429


def test_made_up_client_ids_cost_the_address_not_the_database(make_app, monkeypatch):
    lookups: list[str] = []
    real = SqlClientStore.get_client

    def counted(self, client_id):  # type: ignore[no-untyped-def]
        lookups.append(client_id)
        return real(self, client_id)

    monkeypatch.setattr(SqlClientStore, "get_client", counted)
    http = make_app(rate_limit_token_ip="5/minute", client_cache_seconds=30)
    stranger = browser_from(http, STRANGER)
    # Rotating ids: each is a lookup until the address's budget is spent; then none at all.
    rotating = [
        stranger.post("/token", data={**CC, "client_id": f"fake-{i}", "client_secret": "x"}).status_code
        for i in range(20)
    ]
    assert rotating == [401] * 5 + [429] * 15
    assert lookups == [f"fake-{i}" for i in range(5)]
    # One made-up id repeated: one lookup, then remembered as unknown.
    lookups.clear()
    repeated = browser_from(http, "192.0.2.50")
    for _ in range(5):
        answer = repeated.post("/token", data=CC, headers=basic("made-up", "x"))
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
    assert lookups == ["made-up"]
