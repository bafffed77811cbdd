"""Many flows at once against two nodes of one deployment (PostgreSQL + Redis).

Single-use and exactly-once guarantees must hold across processes, not only inside one:
- 40 client-credentials tokens at once, both nodes: all issued, no jti twice;
- 20 complete sign-ins at once, each hopping between the nodes: none lost, none mixed up; every code
  redeems once, and a second redemption on the other node fails for all of them;
- one code redeemed 8 times in parallel across nodes: exactly one success;
- one refresh token used 8 times in parallel across nodes: exactly one success, and the family dies
  (the server has no grace window for parallel refreshes);
- login throttling counts every concurrent failure (the counters are atomic in Redis), and the audit
  trail records each attempt.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.ops.cluster, then used as test arguments)
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from authserver.store.sql.tables import users as users_table
from tests.helpers import PASSWORD, authorize_params, jwt_parts, pkce_pair

# The fixtures `nodes` and `node_settings` come from tests.ops.cluster; tests take them as arguments.
from tests.ops.cluster import (  # noqa: F401
    NEEDS_BACKENDS,
    REDIRECT,
    SIGN_IN_GRANTS,
    TIMEOUT,
    Browser,
    Steps,
    audit_events,
    client_credentials,
    create_user,
    introspect,
    jwks,
    lock_waiters,
    node_settings,
    nodes,
    parallel,
    redeem,
    refresh,
    sign_in,
    verify,
    wait_until,
)

pytestmark = [pytest.mark.slow, NEEDS_BACKENDS]

GENERIC_FAILURE = "Incorrect username or password."
WRONG_PASSWORD = "not the right password at all"


@pytest.fixture
def node_settings() -> dict[str, str]:
    return {"AUTHSERVER_LOGIN_MAX_FAILURES": "5"}


def error_of(response: httpx.Response) -> str | None:
    return None if response.status_code == 200 else response.json().get("error")


def signed_in_tokens(nodes, cli, app) -> dict:  # type: ignore[no-untyped-def]
    create_user(cli, "alice")
    with Browser() as browser:
        callback, verifier, _ = sign_in(browser, Steps(*nodes), app, username="alice")
    response = redeem(nodes[1], app, callback["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()


# --- (a) client credentials --------------------------------------------------------------------------


def test_forty_client_credentials_tokens_at_once_are_all_distinct(nodes, register):
    service = register(name="billing")
    responses = parallel([lambda n=nodes[i % 2]: client_credentials(n, service) for i in range(40)])
    assert [r.status_code for r in responses] == [200] * 40, [r.text for r in responses if r.status_code != 200]
    tokens = [r.json()["access_token"] for r in responses]
    keys = jwks(nodes[0])
    claims = [verify(t, keys, nodes[0].base, typ="at+jwt") for t in tokens]
    jtis = Counter(c["jti"] for c in claims)
    assert len(jtis) == 40, [j for j, n in jtis.items() if n > 1]
    assert {c["client_id"] for c in claims} == {service["client_id"]}


# --- (b) many sign-ins ---------------------------------------------------------------------------------


def test_twenty_sign_ins_at_once_across_nodes_none_lost_each_code_once(nodes, cli, app, api):
    a, b = nodes
    users = [create_user(cli, f"user{i}") for i in range(5)]
    flows = 20

    def flow(i: int):  # type: ignore[no-untyped-def]
        user = users[i % len(users)]
        order = (a, b) if i % 2 == 0 else (b, a)
        with Browser() as browser:  # every request of the flow goes to the other node than the last
            callback, verifier, seen = sign_in(browser, Steps(*order), app, username=user["username"])
        return user, callback, verifier, seen

    results = parallel([lambda i=i: flow(i) for i in range(flows)])
    assert len(results) == flows
    assert all(seen[0] == "login" for _, _, _, seen in results)
    codes = [callback["code"] for _, callback, _, _ in results]
    assert len(set(codes)) == flows

    first = parallel([lambda i=i, r=r: redeem(nodes[i % 2], app, r[1]["code"], r[2]) for i, r in enumerate(results)])
    assert [r.status_code for r in first] == [200] * flows, [r.text for r in first if r.status_code != 200]
    keys = jwks(b)
    for (user, callback, _, _), response in zip(results, first, strict=True):
        claims = verify(response.json()["id_token"], keys, a.base)
        assert claims["sub"] == user["id"] and claims["nonce"] == callback["nonce"], "flows got mixed up"
    assert len({jwt_parts(r.json()["access_token"])[1]["gid"] for r in first}) == flows

    # The same codes again, each on the node that did not redeem it: all refused.
    second = parallel(
        [lambda i=i, r=r: redeem(nodes[(i + 1) % 2], app, r[1]["code"], r[2]) for i, r in enumerate(results)]
    )
    assert [error_of(r) for r in second] == ["invalid_grant"] * flows
    # ... and the replay revoked what each first redemption issued (RFC 6749 §4.1.2).
    for response in first[:5]:
        assert introspect(a, app, response.json()["access_token"]) == {"active": False}
        assert error_of(refresh(b, app, response.json()["refresh_token"])) == "invalid_grant"


# --- (c) one code, many redemptions ---------------------------------------------------------------------


def test_one_code_redeemed_in_parallel_on_both_nodes_succeeds_exactly_once(nodes, cli, app):
    create_user(cli, "alice")
    with Browser() as browser:
        callback, verifier, _ = sign_in(browser, Steps(*nodes), app, username="alice")
    responses = parallel([lambda n=nodes[i % 2]: redeem(n, app, callback["code"], verifier) for i in range(8)])
    assert sorted(r.status_code for r in responses) == [200] + [400] * 7, [r.text for r in responses]
    assert Counter(error_of(r) for r in responses) == {None: 1, "invalid_grant": 7}


def test_code_replayed_during_its_first_redemption_revokes_what_that_redemption_issues(nodes, cli, app, api, env):
    """RFC 6749 §4.1.2 / README: presenting a code twice revokes what the first use issued, however the
    two requests interleave. The first redemption is held just before it stores its refresh token (the
    test locks the user's row, which the refresh token's foreign key must share-lock), the replay is
    sent to the other node meanwhile, then the first redemption is let go. (A plain 8-way race hits this
    interleaving only now and then: before b3e9e32 spent the code and stored the refresh token in one
    transaction, about 2 races in 30 left the winner's refresh token alive, and this test failed.)"""
    alice = create_user(cli, "alice")
    with Browser() as browser:
        callback, verifier, _ = sign_in(browser, Steps(*nodes), app, username="alice")
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"], poolclass=NullPool)
    holder = engine.connect()
    held = holder.begin()
    with ThreadPoolExecutor(2) as pool:
        try:
            holder.execute(sa.select(users_table.c.id).where(users_table.c.id == alice["id"]).with_for_update())
            first = pool.submit(redeem, nodes[0], app, callback["code"], verifier)
            wait_until(lambda: lock_waiters(engine) >= 1 or first.done(), 20, "the first redemption waits")
            assert not first.done(), first.result().text
            replay = pool.submit(redeem, nodes[1], app, callback["code"], verifier)
            # The replay either finishes at once or waits behind the first redemption's transaction.
            wait_until(lambda: replay.done() or lock_waiters(engine) >= 2, 20, "the replay finishes or waits")
        finally:
            held.rollback()
            holder.close()
            engine.dispose()
        responses = [first.result(timeout=30), replay.result(timeout=30)]
    assert Counter(error_of(r) for r in responses) == {None: 1, "invalid_grant": 1}, [r.text for r in responses]
    issued = next(r.json() for r in responses if r.status_code == 200)
    assert introspect(nodes[0], api, issued["access_token"]) == {"active": False}
    assert error_of(refresh(nodes[0], app, issued["refresh_token"])) == "invalid_grant", (
        "the replay left the first redemption's refresh token alive"
    )


# --- (d) one refresh token, many refreshes ------------------------------------------------------------


def test_one_refresh_token_used_in_parallel_succeeds_once_and_kills_the_family(nodes, cli, app, api):
    tokens = signed_in_tokens(nodes, cli, app)
    responses = parallel([lambda n=nodes[i % 2]: refresh(n, app, tokens["refresh_token"]) for i in range(8)])
    assert Counter(error_of(r) for r in responses) == {None: 1, "invalid_grant": 7}, [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    # Reuse detected: the whole family is revoked, the winner's new tokens included (RFC 9700 §4.14.2).
    assert error_of(refresh(nodes[0], app, winner["refresh_token"])) == "invalid_grant"
    assert introspect(nodes[1], api, winner["access_token"]) == {"active": False}
    assert introspect(nodes[0], api, tokens["access_token"]) == {"active": False}


# --- (e) lockout under concurrency -----------------------------------------------------------------------


def login_page(browser: Browser, node, app: dict) -> httpx.Response:  # type: ignore[no-untyped-def]
    _, challenge = pkce_pair()
    response = browser.get(node, "/authorize?" + urlencode(authorize_params(app, challenge)))
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login?"), response.text
    page = browser.get(node, response.headers["location"])
    assert page.status_code == 200, page.text
    return page


def attempts(nodes, app: dict, username: str, count: int, password: str = WRONG_PASSWORD) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    """`count` browsers each open a login page (on alternating nodes), then all post at once to the
    other node."""
    browsers = [Browser() for _ in range(count)]
    try:
        pages = parallel([lambda b=b, i=i: login_page(b, nodes[i % 2], app) for i, b in enumerate(browsers)])
        return parallel(
            [
                lambda b=b, p=p, i=i: b.submit(nodes[(i + 1) % 2], p, username=username, password=password)
                for i, (b, p) in enumerate(zip(browsers, pages, strict=True))
            ]
        )
    finally:
        for browser in browsers:
            browser.close()


def failed_logins(cli, user: dict) -> list[dict]:  # type: ignore[no-untyped-def]
    result = cli("audit", "list", "--json")
    assert result.code == 0, result.err
    return [
        e
        for e in result.json()
        if e["event"] == "login.failed" and (e.get("data") or {}).get("account") == f"user:{user['id']}"
    ]


def test_concurrent_wrong_passwords_lock_the_account_and_are_all_audited(nodes, cli, app):
    alice = create_user(cli, "alice")
    responses = attempts(nodes, app, "alice", 12)
    assert [r.status_code for r in responses] == [400] * 12
    assert all(GENERIC_FAILURE in r.text for r in responses)
    assert len(failed_logins(cli, alice)) == 12, "every concurrent attempt is in the audit trail"

    # More failures than AUTHSERVER_LOGIN_MAX_FAILURES, on whichever node: locked everywhere, even with
    # the right password (same generic answer).
    for node in nodes:
        [right] = attempts([node, node], app, "alice", 1, password=PASSWORD)
        assert right.status_code == 400 and GENERIC_FAILURE in right.text, right.text
    events = cli("audit", "list", "--json").json()
    assert any(e["event"] == "account.locked" and e["user_id"] == alice["id"] for e in events)
    assert not any(e["event"] == "login.succeeded" for e in events)


def test_concurrent_failures_are_counted_exactly(nodes, cli, app):
    """Four failures at once (one below the limit of 5) count four, not fewer: the fifth locks."""
    alice = create_user(cli, "alice")
    assert [r.status_code for r in attempts(nodes, app, "alice", 4)] == [400] * 4
    assert not audit_events(cli, "account.locked", alice), "four failures do not lock"
    [fifth] = attempts(nodes, app, "alice", 1)
    assert fifth.status_code == 400
    assert [e["data"]["seconds"] for e in audit_events(cli, "account.locked", alice)] == [30]
    [right] = attempts(nodes, app, "alice", 1, password=PASSWORD)
    assert right.status_code == 400 and GENERIC_FAILURE in right.text, "locked after exactly 5 failures"
    assert len(failed_logins(cli, alice)) == 6
