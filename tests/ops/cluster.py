"""Helpers for the operations tests: several `authserver serve` processes forming ONE deployment.

Every node of a deployment shares the database, Redis, the secret key and the issuer URL. A node
started by tests.server.start() names itself as the issuer; here the issuer is a parameter (node A's
URL for both nodes), and requests may still go to any node's own port, as behind a load balancer.
Each node writes its output to a log file (a pipe nobody reads would fill up under load and stall it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlencode, urlsplit

import httpx
import pyotp
import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import PG_URL, REDIS_URL
from tests.helpers import PASSWORD, authorize_params, basic, forms, pkce_pair, query
from tests.helpers import create_user as create_user  # the test modules take it from here too
from tests.server import AUTHSERVER, free_port

NEEDS_BACKENDS = pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="operations tests run a multi-node deployment: they need PostgreSQL and Redis "
    "(set AUTHSERVER_TEST_DATABASE_URL and AUTHSERVER_TEST_REDIS_URL)",
)
SIGN_IN_GRANTS = ("--grant-type", "authorization_code", "--grant-type", "refresh_token")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REDIRECT = "https://app.example/cb"
TIMEOUT = 30.0


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    base: str
    issuer: str
    log: Path

    def url(self, target: str) -> str:
        """`target` (a path, or a URL on any node) sent to this node."""
        parts = urlsplit(target)
        return self.base + parts.path + (f"?{parts.query}" if parts.query else "")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_node(
    env: dict[str, str],
    cwd: Path,
    name: str,
    *,
    issuer: str | None = None,
    port: int | None = None,
    extra: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    ready_within: float = 90,
) -> Node:
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    issuer = issuer or base
    log = cwd / f"node-{name}-{port}.log"
    handle = log.open("w")
    proc = subprocess.Popen(
        [AUTHSERVER, "serve", "--port", str(port), *args],
        env={**os.environ, **env, **(extra or {}), "AUTHSERVER_ISSUER": issuer},
        cwd=cwd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    handle.close()
    node = Node(name, proc, base, issuer, log)
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node {name} exited: {node.output()}")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError(f"node {name} did not become ready: {node.output()}")


def stop_node(node: Node, timeout: float = 30) -> str:
    """SIGTERM, wait for a clean exit, return the node's output."""
    if node.proc.poll() is None:
        node.proc.send_signal(signal.SIGTERM)
    try:
        node.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        node.proc.kill()
        node.proc.wait()
        raise AssertionError(f"node {node.name} did not stop on SIGTERM: {node.output()}") from None
    out = node.output()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so supervisors see why it exited.
    assert node.proc.returncode in (0, -signal.SIGTERM), out
    return out


def start_cluster(
    env: dict[str, str],
    cwd: Path,
    count: int = 2,
    *,
    extra: dict[str, str] | None = None,
    names: str = "ABCDEFGH",
    ready_within: float = 90,
) -> list[Node]:
    """`count` nodes of one deployment, started in parallel; the issuer is the first node's URL."""
    ports = [free_port() for _ in range(count)]
    issuer = f"http://127.0.0.1:{ports[0]}"
    with ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(
                start_node, env, cwd, names[i], issuer=issuer, port=ports[i], extra=extra, ready_within=ready_within
            )
            for i in range(count)
        ]
        errors, nodes = [], []
        for future in futures:
            try:
                nodes.append(future.result())
            except Exception as exc:
                errors.append(exc)
    if errors:
        for node in nodes:
            node.proc.kill()
            node.proc.wait()
        raise errors[0]
    return nodes


def shutdown(nodes: list[Node]) -> None:
    """Stop every node still running; fail on a traceback or an error-level log line from any node."""
    problems = []
    for node in nodes:
        try:
            out = stop_node(node) if node.proc.returncode is None else node.output()
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        errors = [
            line
            for line in out.splitlines()
            if "Traceback" in line or '"level": "error"' in line or '"level": "critical"' in line
        ]
        if errors:
            problems.append(f"node {node.name} logged errors:\n" + "\n".join(errors)[-6000:])
    assert not problems, "\n".join(problems)


# --- protocol helpers ---------------------------------------------------------------------------


def token(node: Node, client: dict, **form: str) -> httpx.Response:
    """POST /token on `node` with client_secret_basic (or client_id for a public client); new connection."""
    data = dict(form)
    headers = {}
    if client.get("client_secret"):
        headers = basic(client["client_id"], client["client_secret"])
    else:
        data["client_id"] = client["client_id"]
    return httpx.post(node.url("/token"), data=data, headers=headers, timeout=TIMEOUT)


def client_credentials(node: Node, client: dict, **form: str) -> httpx.Response:
    return token(node, client, grant_type="client_credentials", **form)


def redeem(node: Node, client: dict, code: str, verifier: str) -> httpx.Response:
    return token(
        node,
        client,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        redirect_uri=client["redirect_uris"][0],
    )


def refresh(node: Node, client: dict, refresh_token: str) -> httpx.Response:
    return token(node, client, grant_type="refresh_token", refresh_token=refresh_token)


def introspect(node: Node, resource_server: dict, value: str) -> dict:
    response = httpx.post(
        node.url("/introspect"),
        data={"token": value},
        timeout=TIMEOUT,
        headers=basic(resource_server["client_id"], resource_server["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def revoke(node: Node, client: dict, value: str, hint: str | None = None) -> httpx.Response:
    data = {"token": value, **({"token_type_hint": hint} if hint else {})}
    return httpx.post(
        node.url("/revoke"), data=data, timeout=TIMEOUT, headers=basic(client["client_id"], client["client_secret"])
    )


def jwks(node: Node) -> KeySet:
    response = httpx.get(node.url("/jwks.json"), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return KeySet.import_key_set(response.json())


def verify(value: str, keys: KeySet, issuer: str, *, typ: str | None = None) -> dict:
    """Signature against the JWKS and the issuer, as a relying party or resource server would."""
    decoded = jwt.decode(value, keys, algorithms=["RS256"])
    if typ is not None:
        assert decoded.header.get("typ") == typ, decoded.header
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer}, exp={"essential": True}).validate(decoded.claims)
    return decoded.claims


def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll `condition` until true; RuntimeError (not an assertion: the test's setup failed) if it never is."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting until {what}")
        time.sleep(0.05)


def lock_waiters(engine) -> int:  # type: ignore[no-untyped-def]
    """Backends of this database waiting for a lock (a new connection each time: pg_stat_activity is a
    snapshot per transaction)."""
    with engine.connect() as probe:
        return probe.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def parallel(calls: list, workers: int = 16) -> list:  # type: ignore[type-arg]
    """Run the callables at once (released together by a barrier when they fit in the pool); their
    results in order."""
    barrier = threading.Barrier(len(calls)) if len(calls) <= workers else None

    def run(call):  # type: ignore[no-untyped-def]
        if barrier is not None:
            barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(min(workers, len(calls))) as pool:
        return list(pool.map(run, calls))


class Browser:
    """One person's browser: its own cookie jar, no automatic redirects, any node per request.

    Cookies are kept per host (127.0.0.1) whatever the port, as behind one load-balanced name.
    `address`: the client address a trusted proxy reports (X-Forwarded-For; the nodes must list
    127.0.0.1 in AUTHSERVER_FORWARDED_ALLOW_IPS)."""

    def __init__(self, address: str | None = None, timeout: float = TIMEOUT) -> None:
        headers = {"X-Forwarded-For": address} if address else None
        self.http = httpx.Client(follow_redirects=False, timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, node: Node, target: str) -> httpx.Response:
        return self.http.get(node.url(target))

    def submit(self, node: Node, page: httpx.Response, **values: str) -> httpx.Response:
        """Post the first form of `page` (hidden fields plus `values`) to `node`."""
        found = forms(page.text)
        assert found, page.text
        form = found[0]
        return self.http.post(node.url(form["action"]), data={**form["fields"], **values})

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)


def enrol_totp(browser: Browser, node: Node) -> tuple[Authenticator, list[str]]:
    """On the account page (the browser is signed in, recently): start TOTP, confirm it with a code from
    the app; (the app, the backup codes shown)."""
    page = browser.get(node, "/account")
    assert page.status_code == 200, page.text
    [start] = [f for f in forms(page.text) if f["action"] == "/account/mfa/totp/start"]
    started = browser.http.post(node.url(start["action"]), data=start["fields"])
    assert started.status_code == 303 and started.headers["location"] == "/account/mfa/totp", started.text
    page = browser.get(node, "/account/mfa/totp")
    assert page.status_code == 200, page.text
    secret = re.search(r'<code class="secret">([^<]*)</code>', page.text)
    assert secret, page.text
    authenticator = Authenticator(secret.group(1))
    done = browser.submit(node, page, code=authenticator.code())
    assert done.status_code == 200, done.text
    codes = re.findall(r"<code>([^<]+)</code>", done.text)
    assert len(codes) == 10, done.text
    return authenticator, codes


def audit_events(cli, name: str, user: dict | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    """The audit trail's `name` events (of `user`), read with the CLI as an operator would."""
    result = cli("audit", "list", "--json", "--limit", "100000")
    assert result.code == 0, result.err
    return [e for e in result.json() if e["event"] == name and (user is None or e["user_id"] == user["id"])]


class Steps:
    """Which node serves each next request: a fixed node, or alternating over several."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = nodes
        self.i = 0

    def __call__(self) -> Node:
        node = self.nodes[self.i % len(self.nodes)]
        self.i += 1
        return node


def walk(
    browser: Browser,
    steps: Steps,
    response: httpx.Response,
    *,
    username: str,
    password: str = PASSWORD,
    code=None,
    consent: str = "allow",
) -> tuple[httpx.Response, list[str]]:  # type: ignore[no-untyped-def]
    """Follow /login, /mfa and /consent redirects like a person; return (first other response, pages)."""
    seen: list[str] = []
    while response.status_code in (302, 303):
        target = urlsplit(response.headers["location"])
        if target.netloc and not target.netloc.startswith("127.0.0.1"):
            break  # back at the client
        if target.path not in ("/login", "/mfa", "/consent"):
            break
        step = target.path.strip("/")
        seen.append(step)
        assert len(seen) < 8, seen
        page = browser.get(steps(), response.headers["location"])
        assert page.status_code == 200, (step, page.status_code, page.text[:2000])
        if step == "login":
            response = browser.submit(steps(), page, username=username, password=password)
        elif step == "mfa":
            assert code is not None, f"unexpected second-factor step after {seen}"
            response = browser.submit(steps(), page, code=code() if callable(code) else code)
        else:
            response = browser.submit(steps(), page, decision=consent)
    return response, seen


def sign_in(
    browser: Browser, steps: Steps, client: dict, *, username: str, password: str = PASSWORD, code=None, **extra: str
) -> tuple[dict, str, list[str]]:  # type: ignore[no-untyped-def]
    """authorize -> hosted pages -> back at the client: (callback query, PKCE verifier, pages seen)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, **extra)
    response = browser.get(steps(), "/authorize?" + urlencode(params))
    final, seen = walk(browser, steps, response, username=username, password=password, code=code)
    assert final.status_code in (302, 303), (seen, final.status_code, final.text[:2000])
    location = final.headers["location"]
    assert location.startswith(client["redirect_uris"][0]), (seen, location)
    callback = query(location)
    assert callback.get("state") == params["state"], callback
    assert "code" in callback, callback
    callback["nonce"] = params["nonce"]
    return callback, verifier, seen


class Authenticator:
    """The phone app: a TOTP code per 30-second step; the server takes each step at most once (on any
    node) and accepts the previous, current and next step, so codes come from the first step in that
    window newer than the last one used (RFC 6238; pyotp computes them)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret.replace(" ", ""))
        self.last_step: int | None = None

    def code(self) -> str:
        while True:
            now = time.time()
            current = int(now // 30)
            steps = ([current - 1] if now % 30 < 25 else []) + [current, current + 1]
            for step in steps:
                if self.last_step is None or step > self.last_step:
                    self.last_step = step
                    return self.totp.at(step * 30)
            time.sleep(30 - now % 30 + 0.1)


# --- fixtures (imported by the test modules) ----------------------------------------------------


@pytest.fixture
def node_settings() -> dict[str, str]:
    """Extra AUTHSERVER_* settings for every node; test modules override this fixture."""
    return {}


@pytest.fixture
def nodes(env: dict[str, str], tmp_path: Path, node_settings: dict[str, str]):  # type: ignore[no-untyped-def]
    """Nodes A and B of one deployment (same database, Redis, secret and issuer: A's URL)."""
    started = start_cluster(env, tmp_path, 2, extra=node_settings)
    yield started
    shutdown(started)
