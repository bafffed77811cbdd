"""Guessing secrets in parallel against real servers: the throttle reserves each attempt before it is
checked, so no burst of concurrent guesses gets more checks than the limits allow, and an attacker
cannot lock the owner out.

On SQLite one `authserver serve` process (the in-process cache); on PostgreSQL + Redis two nodes of one
deployment, the requests alternating between them. The client address comes from X-Forwarded-For (the
nodes trust 127.0.0.1 as their proxy). What was checked is read from the audit trail, as an operator
would: `mfa.failed` / `login.failed` without `throttled` / `device_code.rejected` are the guesses that
were actually checked and wrong.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import PG_URL, REDIS_URL
from tests.helpers import PASSWORD, authorize_params, forms, pkce_pair
from tests.ops.cluster import (
    DEVICE_GRANT,
    TIMEOUT,
    Authenticator,
    Browser,
    Node,
    Steps,
    audit_events,
    create_user,
    enrol_totp,
    parallel,
    shutdown,
    sign_in,
    start_cluster,
    start_node,
)

# Every password check is an argon2id verification, refused ones included (at the suite's cheapest
# cost, but a node still runs at most four at once): the bursts that carry passwords are kept small,
# and waits generous.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
PATIENCE = 180.0

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"
BURST = 50
PASSWORD_BURST = 12
GENERIC = "Incorrect username or password."


@pytest.fixture
def deploy(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start the deployment with extra settings: two nodes on PostgreSQL + Redis, one on SQLite."""
    started: list[Node] = []

    def start(**settings: str) -> list[Node]:
        # Locks last ten minutes here (30 s by default): on a loaded machine a burst of argon2 checks can
        # outlast a short lock, and these tests are about who is locked, not for how long.
        extra = {"AUTHSERVER_FORWARDED_ALLOW_IPS": "127.0.0.1", "AUTHSERVER_LOGIN_LOCK_SECONDS": "600", **settings}
        if PG_URL and REDIS_URL:
            nodes = start_cluster(env, tmp_path, 2, extra=extra, ready_within=PATIENCE)
        else:
            nodes = [start_node(env, tmp_path, "A", extra=extra, ready_within=PATIENCE)]
        started.extend(nodes)
        return nodes

    yield start
    shutdown(started)


def post_as(browser: Browser, node: Node, page: httpx.Response, **values: str) -> httpx.Response:
    """Submit `page`'s first form with `browser`'s cookies and address, on a connection of its own (so
    many can be in flight at once for one browser)."""
    form = forms(page.text)[0]
    with httpx.Client(
        cookies=dict(browser.http.cookies), headers=dict(browser.http.headers), follow_redirects=False, timeout=PATIENCE
    ) as client:
        return client.post(node.url(form["action"]), data={**form["fields"], **values})


def login_page(browser: Browser, node: Node, app: dict, **extra: str) -> httpx.Response:
    _, challenge = pkce_pair()
    response = browser.get(node, "/authorize?" + urlencode(authorize_params(app, challenge, **extra)))
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login?"), response.text
    page = browser.get(node, response.headers["location"])
    assert page.status_code == 200, page.text
    return page


def enrolled_alice(cli, nodes: list[Node]) -> tuple[dict, Authenticator]:  # type: ignore[no-untyped-def]
    alice = create_user(cli, "alice")
    with Browser(OWNER, PATIENCE) as owner:
        response = owner.get(nodes[0], "/account")
        page = owner.get(nodes[0], response.headers["location"])
        assert owner.submit(nodes[0], page, username="alice", password=PASSWORD).status_code == 303
        authenticator, _ = enrol_totp(owner, nodes[-1])
    return alice, authenticator


def wrong_codes(authenticator: Authenticator, count: int) -> list[str]:
    """Six-digit codes that are no code of any step near now (the burst takes a few seconds)."""
    now = time.time()
    near = {authenticator.totp.at(now + d * 30) for d in range(-4, 5)}
    candidates = (f"{(123457 + 7919 * k) % 1000000:06d}" for k in itertools.count())
    return list(itertools.islice((c for c in candidates if c not in near), count))


# --- finding: parallel guesses beat the counters ---------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "checked"),
    [
        ({"AUTHSERVER_MFA_MAX_ATTEMPTS": "3", "AUTHSERVER_LOGIN_MAX_FAILURES": "10"}, 3),
        ({"AUTHSERVER_MFA_MAX_ATTEMPTS": "20", "AUTHSERVER_LOGIN_MAX_FAILURES": "4"}, 4),
    ],
    ids=["the sign-in's own limit", "the account's lock"],
)
def test_fifty_parallel_wrong_codes_on_one_sign_in_check_exactly_the_limit(deploy, cli, app, settings, checked):
    nodes = deploy(**settings)
    alice, authenticator = enrolled_alice(cli, nodes)
    attacker = Browser(ATTACKER, PATIENCE)  # knows the password; now guesses the code
    page = login_page(attacker, nodes[0], app)
    response = attacker.submit(nodes[-1], page, username="alice", password=PASSWORD)
    assert response.status_code == 303 and response.headers["location"].startswith("/mfa?"), response.text
    mfa_page = attacker.get(nodes[0], response.headers["location"])
    assert mfa_page.status_code == 200

    responses = parallel(
        [
            lambda i=i, c=c: post_as(attacker, nodes[i % len(nodes)], mfa_page, code=c)
            for i, c in enumerate(wrong_codes(authenticator, BURST))
        ],
        workers=BURST,
    )
    assert [r.status_code for r in responses] == [400] * BURST, [
        r.text[:300] for r in responses if r.status_code != 400
    ]
    assert len(audit_events(cli, "mfa.failed", alice)) == checked, "exactly the configured number was checked"

    # The right code now: refused (the half-finished sign-in is gone), no session.
    late = post_as(attacker, nodes[0], mfa_page, code=authenticator.code())
    assert late.status_code == 400 and "location" not in late.headers
    assert "as_session" not in late.headers.get("set-cookie", "")
    assert not [e for e in audit_events(cli, "login.succeeded", alice) if e["ip"] == ATTACKER]
    assert len(audit_events(cli, "mfa.failed", alice)) == checked
    attacker.close()


def test_parallel_wrong_passwords_check_exactly_the_limit(deploy, cli, app):
    """Twelve at once (each refused one still costs an argon2 verification against a dummy hash, so a
    locked account answers as slowly as a wrong password: fifty would only test the machine)."""
    nodes = deploy(AUTHSERVER_LOGIN_MAX_FAILURES="5")
    alice = create_user(cli, "alice")
    browsers = [Browser(ATTACKER, PATIENCE) for _ in range(PASSWORD_BURST)]
    try:
        pages = parallel([lambda b=b, i=i: login_page(b, nodes[i % len(nodes)], app) for i, b in enumerate(browsers)])
        responses = parallel(
            [
                lambda b=b, p=p, i=i: b.submit(
                    nodes[(i + 1) % len(nodes)], p, username="alice", password="not the right password"
                )
                for i, (b, p) in enumerate(zip(browsers, pages, strict=True))
            ],
            workers=PASSWORD_BURST,
        )
    finally:
        for browser in browsers:
            browser.close()
    assert [r.status_code for r in responses] == [400] * PASSWORD_BURST
    assert all(GENERIC in r.text for r in responses)
    failed = audit_events(cli, "login.failed", alice)
    assert len(failed) == PASSWORD_BURST, "every attempt is in the audit trail"
    assert len([e for e in failed if not e["data"].get("throttled")]) == 5, "exactly five were checked"
    assert [e["data"]["scope"] for e in audit_events(cli, "account.locked", alice)] == ["pair"]

    # That address is locked, the right password too; the owner elsewhere is not.
    with Browser(ATTACKER, PATIENCE) as attacker:
        right = attacker.submit(nodes[0], login_page(attacker, nodes[0], app), username="alice", password=PASSWORD)
        assert right.status_code == 400 and GENERIC in right.text
    with Browser(OWNER, PATIENCE) as owner:
        _, _, seen = sign_in(owner, Steps(*nodes), app, username="alice")
    assert seen == ["login", "consent"]


def test_fifty_parallel_wrong_user_codes_check_exactly_the_limit(deploy, cli, register):
    nodes = deploy(AUTHSERVER_DEVICE_GUESS_LIMIT="6")
    tv = register("--public", "--grant-type", DEVICE_GRANT, name="TV")
    started = httpx.post(nodes[0].url("/device_authorization"), data={"client_id": tv["client_id"]}, timeout=TIMEOUT)
    user_code = started.json()["user_code"]
    guesser = Browser(ATTACKER, PATIENCE)
    page = guesser.get(nodes[0], "/device")
    letters = "BCDFGHJKLMNPQRSTVWXZ"
    guesses = [f"{letters[i % 20]}{letters[i // 20]}BBBBBB" for i in range(BURST)]
    guesses = [g for g in guesses if g != user_code.replace("-", "")][:BURST]
    responses = parallel(
        [lambda i=i, g=g: post_as(guesser, nodes[i % len(nodes)], page, user_code=g) for i, g in enumerate(guesses)],
        workers=BURST,
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [400] * 6 + [429] * (len(guesses) - 6), statuses
    assert len(audit_events(cli, "device_code.rejected")) == 6
    # The right code from that address is refused unchecked; from another address it works.
    assert post_as(guesser, nodes[0], page, user_code=user_code).status_code == 429
    with Browser(OWNER, PATIENCE) as other:
        response = other.submit(nodes[-1], other.get(nodes[-1], "/device"), user_code=user_code)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?"), response.text
    guesser.close()


def test_parallel_wrong_codes_on_the_reauthentication_page_check_at_most_the_limit(deploy, cli, app):
    """Someone with the password and a session cannot brute-force a code on the account page either.
    (Twelve at once: each try also costs an argon2 check of the password.)"""
    nodes = deploy(AUTHSERVER_LOGIN_MAX_FAILURES="4")
    alice, authenticator = enrolled_alice(cli, nodes)
    thief = Browser(ATTACKER, PATIENCE)
    _, _, seen = sign_in(thief, Steps(*nodes), app, username="alice", code=authenticator.code)
    assert seen == ["login", "mfa", "consent"]
    page = thief.get(nodes[0], "/account/reauth?next=/account")
    assert page.status_code == 200
    codes = wrong_codes(authenticator, PASSWORD_BURST + 8)
    responses = parallel(
        [
            lambda i=i, c=c: post_as(thief, nodes[i % len(nodes)], page, password=PASSWORD, code=c)
            for i, c in enumerate(codes[:PASSWORD_BURST])
        ],
        workers=PASSWORD_BURST,
    )
    assert {r.status_code for r in responses} <= {400, 429}

    def checked() -> int:
        return len([e for e in audit_events(cli, "mfa.failed", alice) if e["data"].get("where")])

    # Never more than the limit, even in a burst. Each try also reserves its password check on the same
    # counter, so the burst may end before it used all four, or a code try may take the lock at a count
    # that includes another try's password check still in flight: fewer guesses, never more.
    assert 1 <= checked() <= 4
    assert sum(r.status_code == 400 for r in responses) == checked()
    follow_ups = [post_as(thief, nodes[0], page, password=PASSWORD, code=code) for code in codes[PASSWORD_BURST:][:5]]
    statuses = [r.status_code for r in follow_ups]
    # Wrong codes until the lock, then refused unchecked: never a 400 after a 429.
    assert statuses == sorted(statuses) and set(statuses) <= {400, 429} and statuses[-1] == 429, statuses
    # The audit rows of the last tries may still be on their way on a loaded machine.
    deadline = time.monotonic() + 10
    while checked() != 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert 1 <= checked() <= 4
    assert post_as(thief, nodes[0], page, password=PASSWORD, code=authenticator.code()).status_code == 429
    thief.close()


# --- finding: victims can be locked out forever ---------------------------------------------------------


def test_the_owner_signs_in_from_a_known_browser_while_attackers_hammer(deploy, cli, app):
    """Attackers from four addresses hammer alice's password, three times the account-wide limit, while
    alice signs in again and again from the browser she used before: she gets in every time; a browser
    that never signed in to her account is refused."""
    nodes = deploy(AUTHSERVER_LOGIN_MAX_FAILURES="2", AUTHSERVER_LOGIN_ACCOUNT_MAX_FAILURES="4")
    alice = create_user(cli, "alice")
    owner = Browser(OWNER, PATIENCE)
    sign_in(owner, Steps(*nodes), app, username="alice")
    assert owner.cookie("as_device")

    addresses = [f"198.51.100.{i}" for i in range(1, 5)]
    attackers = [Browser(addresses[i % 4], PATIENCE) for i in range(12)]  # three from each address
    pages = parallel([lambda b=b, i=i: login_page(b, nodes[i % len(nodes)], app) for i, b in enumerate(attackers)])

    def attack() -> list[httpx.Response]:
        return parallel(
            [
                lambda b=b, p=p, i=i: b.submit(
                    nodes[(i + 1) % len(nodes)], p, username="alice", password="not the right password"
                )
                for i, (b, p) in enumerate(zip(attackers, pages, strict=True))
            ],
            workers=12,
        )

    def owner_signs_in() -> list[list[str]]:
        return [sign_in(owner, Steps(*reversed(nodes)), app, username="alice", prompt="login")[2] for _ in range(3)]

    with ThreadPoolExecutor(2) as pool:
        hammering = pool.submit(attack)
        owners = pool.submit(owner_signs_in)
        responses, seen = hammering.result(timeout=400), owners.result(timeout=400)
    for browser in attackers:
        browser.close()
    assert [r.status_code for r in responses] == [400] * 12
    assert seen == [["login"]] * 3, "the owner got in every time"
    failed = audit_events(cli, "login.failed", alice)
    assert len(failed) == 12
    # Two per address pass their own lock (eight), of which exactly four are checked: the account-wide limit.
    assert len([e for e in failed if not e["data"].get("throttled")]) == 4, "the account-wide limit held exactly"
    assert "account" in {e["data"]["scope"] for e in audit_events(cli, "account.locked", alice)}

    # Now: a new browser from a clean address is refused, the right password too ...
    with Browser("192.0.2.99", PATIENCE) as stranger:
        right = stranger.submit(nodes[0], login_page(stranger, nodes[0], app), username="alice", password=PASSWORD)
        assert right.status_code == 400 and GENERIC in right.text
    # ... while the owner's browser still gets in, on any node.
    for node in nodes:
        _, _, again = sign_in(owner, Steps(node), app, username="alice", prompt="login")
        assert again == ["login"]
    owner.close()
