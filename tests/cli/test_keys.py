"""`authserver keys list|rotate` and what the running app makes of a rotation."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from authserver.security.crypto import DecryptionError
from tests.cli.checks import assert_error
from tests.helpers import basic, client_token, jwt_parts

OTHER_SECRET = "a-different-secret-key-that-is-also-long-enough-42"


def ts(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def keys(cli) -> list[dict]:
    result = cli("keys", "list", "--json")
    assert result.code == 0, result.err
    return result.json()


def jwks_kids(http) -> list[str]:
    response = http.get("/jwks.json")
    assert response.status_code == 200
    return [k["kid"] for k in response.json()["keys"]]


def introspect(http, client, token) -> dict:
    response = http.post(
        "/introspect", data={"token": token}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_list_before_any_start(cli):
    text = cli("keys", "list")
    assert text.code == 0 and text.err == ""
    assert text.out.startswith("no keys yet")
    assert "authserver serve" in text.out
    assert keys(cli) == []


def test_rotate_creates_the_first_key_and_a_pending_one(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_JWKS_MAX_AGE", "300")
    before = time.time()
    result = cli("keys", "rotate", "--json")
    assert result.code == 0, result.err
    rotated = result.json()
    assert set(rotated) == {"kid", "alg", "published_at", "activates_at"}
    assert rotated["alg"] == "RS256"
    assert abs(ts(rotated["published_at"]) - before) < 10
    assert ts(rotated["activates_at"]) - before >= 300

    listed = keys(cli)
    assert [k["state"] for k in listed] == ["active", "pending"]
    active, pending = listed
    for row in listed:
        assert set(row) == {"kid", "alg", "state", "created_at", "activates_at", "retired_at", "published_until"}
        assert row["alg"] == "RS256"
        assert row["retired_at"] is None and row["published_until"] is None
    assert pending["kid"] == rotated["kid"] != active["kid"]
    assert ts(active["activates_at"]) <= time.time()
    assert ts(pending["activates_at"]) - ts(pending["created_at"]) >= 300
    assert pending["activates_at"] == rotated["activates_at"]
    # Key material never appears in CLI output.
    for out in (result.out, cli("keys", "list").out, cli("keys", "list", "--json").out):
        assert '"d"' not in out and "PRIVATE KEY" not in out and "private_key" not in out


def test_rotate_text_output(cli):
    result = cli("keys", "rotate")
    assert result.code == 0, result.err
    match = re.fullmatch(r"published key (\S+); it starts signing at (\S+)\n", result.out)
    assert match, result.out
    assert match.group(1) == keys(cli)[-1]["kid"]
    text = cli("keys", "list")
    assert text.code == 0
    assert "active" in text.out and "pending" in text.out
    assert "\n\n" in text.out


def test_rotating_twice_keeps_one_active_key_and_two_pending(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_JWKS_MAX_AGE", "300")
    first = cli("keys", "rotate", "--json").json()
    second = cli("keys", "rotate", "--json").json()
    listed = keys(cli)
    assert [k["state"] for k in listed] == ["active", "pending", "pending"]
    assert [k["kid"] for k in listed[1:]] == [first["kid"], second["kid"]]


def test_app_publishes_the_pending_key_at_once_but_signs_with_the_old_one(cli, make_app, register, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_JWKS_MAX_AGE", "300")
    http = make_app()  # its start-up creates the first key
    client = register()
    old = keys(cli)
    assert [k["state"] for k in old] == ["active"]
    old_kid = old[0]["kid"]
    assert jwt_parts(client_token(http, client)["access_token"])[0]["kid"] == old_kid
    assert jwks_kids(http) == [old_kid]

    new_kid = cli("keys", "rotate", "--json").json()["kid"]
    response = http.get("/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert [k["kid"] for k in response.json()["keys"]] == [new_kid, old_kid]  # newest first
    for jwk in response.json()["keys"]:
        assert "d" not in jwk and jwk["use"] == "sig" and jwk["alg"] == "RS256"
    token = client_token(http, client)["access_token"]
    assert jwt_parts(token)[0]["kid"] == old_kid
    assert introspect(http, client, token)["active"] is True


def test_rotation_before_the_app_starts_is_published_too(cli, make_app, register, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_JWKS_MAX_AGE", "300")
    rotated = cli("keys", "rotate", "--json").json()
    http = make_app()
    first = keys(cli)[0]["kid"]
    assert jwks_kids(http) == [rotated["kid"], first]
    assert jwt_parts(client_token(http, register())["access_token"])[0]["kid"] == first


def test_new_key_signs_soon_without_caches_and_old_tokens_stay_valid(cli, make_app, register, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_JWKS_MAX_AGE", "0")
    monkeypatch.setenv("AUTHSERVER_KEY_REFRESH_SECONDS", "0")
    http = make_app()
    client = register()
    old_token = client_token(http, client)["access_token"]
    old_kid = jwt_parts(old_token)[0]["kid"]

    new_kid = cli("keys", "rotate", "--json").json()["kid"]
    deadline = time.monotonic() + 4
    kid = old_kid
    while time.monotonic() < deadline:
        kid = jwt_parts(client_token(http, client)["access_token"])[0]["kid"]
        if kid == new_kid:
            break
        time.sleep(0.1)
    assert kid == new_kid, "the rotated key did not start signing within the activation delay"

    # The old key is retired, not gone: still published and still verifying what it signed.
    assert old_kid in jwks_kids(http)
    assert introspect(http, client, old_token)["active"] is True
    listed = {k["kid"]: k for k in keys(cli)}
    assert listed[new_kid]["state"] == "active"
    retired = listed[old_kid]
    assert retired["state"] == "retired"
    assert retired["retired_at"] == listed[new_kid]["activates_at"]
    ttl = 900  # default AUTHSERVER_ACCESS_TOKEN_TTL
    assert ts(retired["published_until"]) - ts(retired["retired_at"]) >= ttl


def test_keys_usage_errors(cli):
    for args in (("keys",), ("keys", "delete"), ("keys", "list", "--all")):
        result = cli(*args)
        assert result.code == 2
        assert result.err.count("\n") == 1 and ": error: " in result.err


# --- encryption at rest ------------------------------------------------------------------------


def test_app_with_a_different_secret_key_refuses_to_start(cli, make_app, monkeypatch):
    assert cli("keys", "rotate").code == 0  # two keys sealed under the test secret
    monkeypatch.setenv("AUTHSERVER_SECRET_KEY", OTHER_SECRET)
    # Observed: the lifespan start-up raises DecryptionError out of TestClient.__enter__ (under uvicorn
    # the worker exits at start-up), so a server with the wrong secret never serves.
    with pytest.raises(DecryptionError, match="wrong AUTHSERVER_SECRET_KEY"):
        make_app()


def test_keys_list_with_a_different_secret_key_still_lists(cli, monkeypatch):
    # Observed behaviour: listing reads only public data, so it does not notice the wrong secret.
    assert cli("keys", "rotate").code == 0
    monkeypatch.setenv("AUTHSERVER_SECRET_KEY", OTHER_SECRET)
    assert [k["state"] for k in keys(cli)] == ["active", "pending"]


# Regression (found by these tests, fixed in e1fa2be): `keys rotate` did not check that
# AUTHSERVER_SECRET_KEY opens the stored keys; with a wrong secret it sealed the new key under it and
# exited 0, so servers with the right secret could not decrypt it.
def test_rotate_with_a_different_secret_key_is_refused(cli, monkeypatch):
    assert cli("keys", "rotate").code == 0
    monkeypatch.setenv("AUTHSERVER_SECRET_KEY", OTHER_SECRET)
    result = cli("keys", "rotate")
    assert_error(result, contains="AUTHSERVER_SECRET_KEY")


# Regression (found by these tests, fixed in e1fa2be): a key sealed under another secret made
# KeyRing.reload raise DecryptionError on the running server's next refresh, so /token failed.
def test_running_server_survives_a_rotation_made_with_a_different_secret(cli, make_app, register, monkeypatch):
    http = make_app()
    client = register()
    client_token(http, client)
    monkeypatch.setenv("AUTHSERVER_SECRET_KEY", OTHER_SECRET)
    cli("keys", "rotate")
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text


def test_serve_with_a_different_secret_key_refuses_before_binding(cli, monkeypatch):
    calls = []
    monkeypatch.setattr("authserver.workers.serve", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setattr("authserver.logs.configure_logging", lambda level: None)
    assert cli("keys", "rotate").code == 0
    monkeypatch.setenv("AUTHSERVER_SECRET_KEY", OTHER_SECRET)
    assert_error(cli("serve"), contains="AUTHSERVER_SECRET_KEY")
    assert calls == []
    assert len(keys(cli)) == 2  # nothing was added
