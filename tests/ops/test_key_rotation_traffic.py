"""Key rotation under traffic: `authserver keys rotate`, twice, while both nodes issue tokens and a
resource server verifies every one of them from a JWKS it caches like a real one.

The nodes run with AUTHSERVER_JWKS_MAX_AGE=2 and AUTHSERVER_KEY_REFRESH_SECONDS=1 (and so does the
CLI: the activation delay comes from the same settings). The verifier refetches the JWKS only when
its copy is older than the response's max-age, never on an unknown kid, so a key that signs before
every cache can know it shows up as a failure.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.ops.cluster, then used as test arguments)
from __future__ import annotations

import queue
import re
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tests.helpers import jwt_parts

# The fixtures `nodes` and `node_settings` come from tests.ops.cluster; tests take them as arguments.
from tests.ops.cluster import (  # noqa: F401
    NEEDS_BACKENDS,
    TIMEOUT,
    client_credentials,
    node_settings,
    nodes,
    shutdown,
    start_node,
)

pytestmark = [pytest.mark.slow, NEEDS_BACKENDS]

MAX_AGE = 2
SETTINGS = {
    "AUTHSERVER_JWKS_MAX_AGE": str(MAX_AGE),
    "AUTHSERVER_KEY_REFRESH_SECONDS": "1",
    # This test is about keys, not the per-client /token rate limit (1200/minute by default).
    "AUTHSERVER_RATE_LIMIT_TOKEN": "1000000/minute",
}


@pytest.fixture
def node_settings(env, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)  # `authserver keys rotate` runs with the deployment's settings
    return dict(SETTINGS)


class CachingVerifier:
    """A resource server: JWKS cached for the max-age the server sends, refetched only when older."""

    def __init__(self, nodes, issuer: str) -> None:  # type: ignore[no-untyped-def]
        self.nodes = nodes
        self.issuer = issuer
        self.fetches = 0
        self.keys: KeySet | None = None
        self.kids: set[str] = set()
        self.fetched_at = float("-inf")
        self.max_age = 0.0
        self.failures: list[str] = []
        self.verified: Counter[str] = Counter()
        self.iat_by_kid: dict[str, list[int]] = defaultdict(list)

    def _refresh(self) -> None:
        node = self.nodes[self.fetches % len(self.nodes)]
        self.fetches += 1
        response = httpx.get(node.url("/jwks.json"), timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        self.fetched_at = time.monotonic()  # cached from when the response arrived (conservative)
        found = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
        self.max_age = float(found.group(1)) if found else 0.0
        self.keys = KeySet.import_key_set(response.json())
        self.kids = {k["kid"] for k in response.json()["keys"]}

    def check(self, token: str) -> None:
        if time.monotonic() - self.fetched_at >= self.max_age:
            self._refresh()
        header, claims = jwt_parts(token)
        kid = header.get("kid")
        if kid not in self.kids:
            self.failures.append(f"unknown kid {kid} (cached: {sorted(self.kids)}, iat {claims.get('iat')})")
            return
        try:
            decoded = jwt.decode(token, self.keys, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer}).validate(decoded.claims)
        except JoseError as exc:
            self.failures.append(f"bad token signed by {kid}: {exc!r}")
            return
        self.verified[kid] += 1
        self.iat_by_kid[kid].append(int(decoded.claims["iat"]))


def rotate(cli) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    result = cli("keys", "rotate", "--json")
    assert result.code == 0, result.err
    row = result.json()
    return row["kid"], int(datetime.fromisoformat(row["activates_at"]).timestamp())


def test_rotating_twice_under_traffic_never_fails_a_caching_verifier(nodes, cli, register):
    service = register(name="billing")
    issuer = nodes[0].base
    first_kid = jwt_parts(client_credentials(nodes[0], service).json()["access_token"])[0]["kid"]
    tokens: queue.Queue = queue.Queue()
    stop = threading.Event()
    errors: list[str] = []

    def produce(node) -> None:  # type: ignore[no-untyped-def]
        while not stop.is_set():
            try:
                response = client_credentials(node, service)  # a new connection per request
            except httpx.HTTPError as exc:
                errors.append(f"{node.name}: {exc!r}")
                continue
            if response.status_code != 200:
                errors.append(f"{node.name}: {response.status_code} {response.text}")
                continue
            tokens.put(response.json()["access_token"])

    verifier = CachingVerifier(nodes, issuer)
    done = threading.Event()

    def verify_all() -> None:
        while not (done.is_set() and tokens.empty()):
            try:
                verifier.check(tokens.get(timeout=0.2))
            except queue.Empty:
                continue

    threads = [threading.Thread(target=produce, args=(n,), daemon=True) for n in nodes for _ in range(2)]
    checker = threading.Thread(target=verify_all, daemon=True)
    for thread in [*threads, checker]:
        thread.start()
    try:
        time.sleep(1)
        second_kid, second_at = rotate(cli)
        # Rotate again while the second key is still pending or has just started signing.
        time.sleep(max(0.0, second_at - time.time()) + 0.5)
        third_kid, third_at = rotate(cli)
        deadline = third_at + 2.5
        while time.time() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=TIMEOUT + 5)
        done.set()
        checker.join(timeout=60)

    assert not errors, errors[:5]
    assert verifier.failures == [], verifier.failures[:5]
    assert set(verifier.verified) == {first_kid, second_kid, third_kid}, verifier.verified
    assert sum(verifier.verified.values()) > 50, verifier.verified
    # Each new key signs only from its activation on, and the key before it stops then.
    assert min(verifier.iat_by_kid[second_kid]) >= second_at
    assert max(verifier.iat_by_kid[first_kid]) < second_at
    assert min(verifier.iat_by_kid[third_kid]) >= third_at
    assert max(verifier.iat_by_kid[second_kid]) < third_at
    # The verifier behaved like a cache, not like a fetch per token.
    assert verifier.fetches < sum(verifier.verified.values()) / 5


def test_a_slowly_generated_key_still_waits_a_full_cache_lifetime_after_publication(env, cli, tmp_path, monkeypatch):
    """The new key must start signing no sooner than JWKS_MAX_AGE after the last JWKS response that did
    not list it, whatever the key size (AUTHSERVER_SIGNING_KEY_BITS allows up to 8192). Before b3e9e32 the
    activation time was taken before the key was generated (2-10 s for 8192 bits here), so the key
    could sign before caches fetched just ahead of its publication expired: this failed every time."""
    max_age = 1
    settings = {"AUTHSERVER_JWKS_MAX_AGE": str(max_age), "AUTHSERVER_KEY_REFRESH_SECONDS": "0"}
    node = start_node(env, tmp_path, "A", extra=settings)
    try:
        for name, value in {**settings, "AUTHSERVER_SIGNING_KEY_BITS": "8192"}.items():
            monkeypatch.setenv(name, value)
        before = {k["kid"] for k in httpx.get(node.url("/jwks.json")).json()["keys"]}
        stop = threading.Event()
        last_without: list[float] = []  # when the last JWKS request not listing the new key was sent

        def poll() -> None:
            while not stop.is_set():
                sent = time.time()
                kids = {k["kid"] for k in httpx.get(node.url("/jwks.json"), timeout=TIMEOUT).json()["keys"]}
                if kids - before:
                    return
                last_without[:] = [sent]
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            kid, activates_at = rotate(cli)
        finally:
            poller.join(timeout=30)
            stop.set()
        assert last_without, "the poller saw no JWKS before the new key"
        # A verifier that fetched the JWKS at last_without[0] trusts it until last_without[0] + max_age.
        assert activates_at >= last_without[0] + max_age, (
            f"key {kid} signs from {activates_at}, {last_without[0] + max_age - activates_at:.2f} s before a "
            f"JWKS cached without it expires"
        )
    finally:
        shutdown([node])
