"""Two nodes, one truth: two `authserver serve` processes of ONE deployment (same PostgreSQL, Redis,
secret key and issuer) behave as one server, whichever node each request of a flow lands on.

- discovery and the JWKS are the same on both nodes, and both sign with the same key;
- a code issued on A (authorize, login, consent there) is redeemed on B; tokens verify against the
  shared issuer; refresh on A; introspection and revocation on B are seen on A;
- the device grant: started and polled on A, the user enters the code and approves on B's pages;
- two-step verification enrolled on B is required (and its codes single-use) on A;
- a browser session made on A is honoured on B, and ending it on B ends it on A.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.ops.cluster, then used as test arguments)
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.helpers import PASSWORD, authorize_params, basic, forms, jwt_parts, pkce_pair

# The fixtures `nodes` and `node_settings` come from tests.ops.cluster; tests take them as arguments.
from tests.ops.cluster import (  # noqa: F401
    DEVICE_GRANT,
    NEEDS_BACKENDS,
    REDIRECT,
    SIGN_IN_GRANTS,
    TIMEOUT,
    Browser,
    Steps,
    client_credentials,
    create_user,
    enrol_totp,
    introspect,
    jwks,
    lock_waiters,
    node_settings,
    nodes,
    redeem,
    refresh,
    revoke,
    shutdown,
    sign_in,
    start_cluster,
    token,
    verify,
    wait_until,
)

pytestmark = [pytest.mark.slow, NEEDS_BACKENDS]

ACR_MFA = "urn:authserver:loa:2"


@pytest.fixture
def node_settings() -> dict[str, str]:
    return {"AUTHSERVER_DEVICE_POLL_INTERVAL": "1"}


def userinfo(node, access_token: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(node.url("/userinfo"), headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT)


def test_both_nodes_publish_one_issuer_and_sign_with_one_key(nodes, register):
    a, b = nodes
    docs = [httpx.get(n.url("/.well-known/openid-configuration")).json() for n in nodes]
    assert docs[0] == docs[1]
    assert docs[0]["issuer"] == a.base == b.issuer
    assert docs[0]["token_endpoint"] == f"{a.base}/token"
    assert [httpx.get(n.url("/jwks.json")).json() for n in nodes] == [httpx.get(a.url("/jwks.json")).json()] * 2

    service = register(name="billing")
    tokens = []
    for node in (a, b, a, b):
        response = client_credentials(node, service)
        assert response.status_code == 200, response.text
        tokens.append(response.json()["access_token"])
    assert len({jwt_parts(t)[0]["kid"] for t in tokens}) == 1
    for keys in (jwks(a), jwks(b)):
        for value in tokens:
            assert verify(value, keys, a.base, typ="at+jwt")["client_id"] == service["client_id"]


def test_nodes_starting_together_on_an_empty_database_agree_on_one_first_key(env, cli, register, tmp_path):
    """Both nodes check for keys before either has stored one (made certain here: the test holds a
    SHARE lock on signing_keys, which lets the checks read and makes the inserts wait, until both
    wait), as happens when a fresh deployment's replicas start at once."""
    service = register(name="billing")
    assert cli("keys", "list", "--json").json() == []
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"], poolclass=NullPool)
    holder = engine.connect()
    held = holder.begin()
    with ThreadPoolExecutor(1) as pool:
        try:
            holder.execute(sa.text("LOCK TABLE signing_keys IN SHARE MODE"))
            starting = pool.submit(start_cluster, env, tmp_path, 2, extra={"AUTHSERVER_KEY_REFRESH_SECONDS": "600"})
            wait_until(lambda: lock_waiters(engine) >= 2 or starting.done(), 30, "both nodes wait to insert a key")
        finally:
            held.rollback()
            holder.close()
            engine.dispose()
        started = starting.result(timeout=60)
    try:
        published = {n.name: {k["kid"] for k in httpx.get(n.url("/jwks.json")).json()["keys"]} for n in started}
        signed = {n.name: jwt_parts(client_credentials(n, service).json()["access_token"])[0]["kid"] for n in started}
    finally:
        shutdown(started)
    keys = cli("keys", "list", "--json").json()
    assert len(keys) == 1, f"{len(keys)} first keys: nodes sign with {signed}, publish {published}"
    assert all(kid in kids for kid in signed.values() for kids in published.values())


def test_code_from_a_redeemed_on_b_refreshed_on_a_revoked_on_b(nodes, cli, app, api):
    a, b = nodes
    create_user(cli, "alice")
    with Browser() as browser:
        callback, verifier, seen = sign_in(browser, Steps(a), app, username="alice")
    assert seen == ["login", "consent"]
    assert callback["iss"] == a.base  # RFC 9207, the shared issuer

    response = redeem(b, app, callback["code"], verifier)
    assert response.status_code == 200, response.text
    first = response.json()
    claims = verify(first["id_token"], jwks(b), a.base)
    assert claims["aud"] == app["client_id"] and claims["nonce"] == callback["nonce"]
    verify(first["access_token"], jwks(a), a.base, typ="at+jwt")
    # The code is used up on every node.
    again = redeem(a, app, callback["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # (A replayed code revokes what it issued: start over with a new sign-in.)
    with Browser() as browser:
        callback, verifier, seen = sign_in(browser, Steps(b), app, username="alice")
    assert seen == ["login"]  # consent given on A is remembered on B
    response = redeem(a, app, callback["code"], verifier)
    assert response.status_code == 200, response.text
    first = response.json()
    assert userinfo(b, first["access_token"]).json()["email"] == "alice@example.com"

    # Refresh on A: rotation is seen on B (the old token is used up there).
    response = refresh(a, app, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    verify(second["id_token"], jwks(b), a.base)
    assert introspect(b, app, second["access_token"])["active"] is True
    rt = httpx.post(
        b.url("/introspect"),
        data={"token": second["refresh_token"]},
        headers=basic(app["client_id"], app["client_secret"]),
        timeout=TIMEOUT,
    ).json()
    assert rt["active"] is True and rt["token_type"] == "refresh_token"
    old = httpx.post(
        b.url("/introspect"),
        data={"token": first["refresh_token"]},
        headers=basic(app["client_id"], app["client_secret"]),
        timeout=TIMEOUT,
    ).json()
    assert old == {"active": False}

    # Revoke the access token on B: A sees it at once (the denylist is in Redis).
    assert revoke(b, app, second["access_token"]).status_code == 200
    assert introspect(a, app, second["access_token"]) == {"active": False}
    assert userinfo(a, second["access_token"]).status_code == 401
    # Revoke the refresh token on B: the grant is gone on A.
    assert revoke(b, app, second["refresh_token"], "refresh_token").status_code == 200
    response = refresh(a, app, second["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert introspect(a, app, first["access_token"]) == {"active": False}


def test_device_started_on_a_approved_on_b_polled_on_a(nodes, cli, register):
    a, b = nodes
    create_user(cli, "alice")
    tv = register("--public", "--grant-type", DEVICE_GRANT, "--grant-type", "refresh_token", name="Living Room TV")
    response = httpx.post(
        a.url("/device_authorization"), data={"client_id": tv["client_id"], "scope": "openid profile offline_access"}
    )
    assert response.status_code == 200, response.text
    device = response.json()
    assert device["interval"] == 1
    assert device["verification_uri"] == f"{a.base}/device"

    def poll(node):  # type: ignore[no-untyped-def]
        return token(node, tv, grant_type=DEVICE_GRANT, device_code=device["device_code"])

    pending = poll(a)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"

    with Browser() as browser:  # the phone, on B
        page = browser.get(b, "/device")
        assert page.status_code == 200
        response = browser.submit(b, page, user_code=device["user_code"].lower())
        assert response.status_code == 303 and response.headers["location"].startswith("/login?"), response.text
        page = browser.get(b, response.headers["location"])
        response = browser.submit(b, page, username="alice", password=PASSWORD)
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/device/confirm?"), response.headers["location"]
        page = browser.get(b, response.headers["location"])
        assert page.status_code == 200 and device["user_code"] in page.text
        done = browser.submit(b, page, decision="allow")
        assert done.status_code == 200, done.text

    deadline = time.monotonic() + 15
    while True:
        time.sleep(1.1)
        response = poll(a)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        assert response.json()["error"] == "authorization_pending", response.text
    assert response.status_code == 200, response.text
    tokens = response.json()
    claims = verify(tokens["id_token"], jwks(b), a.base)
    assert claims["aud"] == tv["client_id"]
    assert verify(tokens["access_token"], jwks(a), a.base, typ="at+jwt")["sub"] == claims["sub"]
    # Single use on every node; the device refreshes anywhere.
    time.sleep(1.1)
    used = poll(b)
    assert used.status_code == 400 and used.json()["error"] == "invalid_grant"
    assert refresh(b, tv, tokens["refresh_token"]).status_code == 200


def test_mfa_enrolled_on_b_is_asked_for_on_a_and_codes_are_single_use_across_nodes(nodes, cli, app):
    a, b = nodes
    create_user(cli, "alice")
    with Browser() as browser:  # the account page on B
        response = browser.get(b, "/account")
        assert response.status_code == 303 and response.headers["location"].startswith("/login?")
        page = browser.get(b, response.headers["location"])
        response = browser.submit(b, page, username="alice", password=PASSWORD)
        assert response.status_code == 303 and response.headers["location"] == "/account", response.text
        authenticator, _ = enrol_totp(browser, b)  # started with a POST, confirmed with a code; 10 backup codes

    used: list[str] = []

    def next_code() -> str:
        used.append(authenticator.code())
        return used[-1]

    with Browser() as browser:  # sign in to the app on A: password, then the code from the phone
        callback, verifier, seen = sign_in(browser, Steps(a), app, username="alice", code=next_code)
    assert seen == ["login", "mfa", "consent"]
    response = redeem(a, app, callback["code"], verifier)
    assert response.status_code == 200, response.text
    claims = verify(response.json()["id_token"], jwks(b), a.base)
    assert claims["acr"] == ACR_MFA and set(claims["amr"]) == {"pwd", "otp", "mfa"}

    # The code just accepted on A is refused on B (replay), in another browser.
    with Browser() as browser:
        _, challenge = pkce_pair()
        response = browser.get(b, "/authorize?" + urlencode(authorize_params(app, challenge)))
        page = browser.get(b, response.headers["location"])
        response = browser.submit(b, page, username="alice", password=PASSWORD)
        assert response.status_code == 303 and response.headers["location"].startswith("/mfa?"), response.text
        page = browser.get(b, response.headers["location"])
        replay = browser.submit(b, page, code=used[-1])
        assert replay.status_code == 400, replay.text
        assert "not right" in replay.text
        assert "location" not in replay.headers


def test_session_from_a_works_on_b_and_ends_everywhere(nodes, cli, app):
    a, b = nodes
    create_user(cli, "alice")
    browser = Browser()
    try:
        callback, verifier, seen = sign_in(browser, Steps(a), app, username="alice")
        assert seen == ["login", "consent"]
        session = browser.cookie("as_session")
        assert session

        # The bare cookie, in a fresh cookie jar, opens the account page on B (sessions are server-side).
        with httpx.Client(base_url=b.base, cookies={"as_session": session}, follow_redirects=False) as other:
            page = other.get("/account")
            assert page.status_code == 200, page.text
            assert "alice@example.com" in page.text

        # The same browser is signed in on B: a new authorization there needs no page at all.
        callback, verifier, seen = sign_in(browser, Steps(b), app, username="alice")
        assert seen == []
        response = redeem(a, app, callback["code"], verifier)
        assert response.status_code == 200, response.text
        tokens = response.json()

        # Logging out on B (with an id_token_hint: no confirmation) ends the session on A too.
        out = browser.get(b, "/logout?id_token_hint=" + tokens["id_token"])
        assert out.status_code == 200, out.text
        with httpx.Client(base_url=a.base, cookies={"as_session": session}, follow_redirects=False) as other:
            page = other.get("/account")
            assert page.status_code == 303 and page.headers["location"].startswith("/login?")
        # ... and the refresh token bound to it (no offline_access) is refused on A.
        response = refresh(a, app, tokens["refresh_token"])
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
        page = browser.get(a, "/account")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?")
        assert forms(browser.get(a, page.headers["location"]).text)[0]["action"] == "/login"
    finally:
        browser.close()
