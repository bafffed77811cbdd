"""Graceful shutdown and rolling restarts of one node of a two-node deployment.

- SIGTERM to node B while threads keep sending it requests (a new connection each, as through a load
  balancer): every request B accepted gets a complete response; requests after its listener closed
  fail to connect (ConnectError, which a load balancer retries elsewhere), and none is reset or cut
  short (RemoteProtocolError / ReadError). Node A, under its own steady traffic, sees no error at all.
- A rolling restart: B stops, a new B starts on a new port with the same settings, traffic on A
  continues without a single error, and the new B serves the state the old one left (a session, a
  refresh token, a revocation).
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.ops.cluster, then used as test arguments)
from __future__ import annotations

import base64
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import pytest

from tests.helpers import PASSWORD, authorize_params, forms, jwt_parts, pkce_pair

# The fixtures `nodes` and `node_settings` come from tests.ops.cluster; tests take them as arguments.
from tests.ops.cluster import (  # noqa: F401
    NEEDS_BACKENDS,
    REDIRECT,
    SIGN_IN_GRANTS,
    TIMEOUT,
    Browser,
    Node,
    Steps,
    client_credentials,
    create_user,
    introspect,
    jwks,
    node_settings,
    nodes,
    redeem,
    refresh,
    revoke,
    shutdown,
    sign_in,
    start_node,
    stop_node,
    verify,
)

pytestmark = [pytest.mark.slow, NEEDS_BACKENDS]

CONNECT = "connect refused"
RESET = "reset or cut short"


@dataclass
class Record:
    node: str
    kind: str
    started: float
    ended: float
    outcome: str


@dataclass
class Traffic:
    """Threads sending requests to `node` in a loop until stopped, one new connection per request."""

    records: list[Record] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def run(self, node: Node, kind: str, call: Callable[[], httpx.Response], threads: int) -> None:
        def loop() -> None:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response = call()
                    outcome = "ok" if response.status_code < 500 else f"HTTP {response.status_code}"
                except (httpx.ConnectError, httpx.ConnectTimeout):
                    outcome = CONNECT
                    time.sleep(0.01)
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                    outcome = f"{RESET}: {type(exc).__name__}: {exc}"
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                self.records.append(Record(node.name, kind, started, time.monotonic(), outcome))

        for _ in range(threads):
            thread = threading.Thread(target=loop, daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=TIMEOUT + 10)

    def outcomes(self, node: str, after: float = float("-inf")) -> Counter[str]:
        return Counter(r.outcome for r in self.records if r.node == node and r.ended >= after)


@pytest.fixture
def node_settings() -> dict[str, str]:
    # Steady traffic from one client for seconds: keep it under the per-client /token limit. Sign-ins cost
    # a real argon2id check (the standard profile, not the suite's cheapest): the slow requests in flight.
    return {"AUTHSERVER_RATE_LIMIT_TOKEN": "1000000/minute", "AUTHSERVER_ARGON2_COST": "standard"}


def login_attempt(node: Node, app: dict) -> Callable[[], httpx.Response]:
    """A slower request (an argon2 verification): a failed sign-in for an unknown user, replayable."""
    with Browser() as browser:
        _, challenge = pkce_pair()
        response = browser.get(node, "/authorize?" + urlencode(authorize_params(app, challenge)))
        page = browser.get(node, response.headers["location"])
        assert page.status_code == 200, page.text
        fields = forms(page.text)[0]["fields"]
        cookies = dict(browser.http.cookies.items())

    def call() -> httpx.Response:
        return httpx.post(
            node.url("/login"),
            data={**fields, "username": "nobody", "password": "wrong password!"},
            cookies=cookies,
            timeout=TIMEOUT,
        )

    return call


class ResetDuringShutdown(AssertionError):
    """A request to the stopping node was reset or cut short (the known, intermittent bug below);
    any other failed assertion of that test is a plain failure."""


@pytest.mark.xfail(
    reason="Documented limitation without a drain period (intermittent: 1 run in 2-4 here, so not strict): a request whose connection B accepted "
    "(or the kernel queued) just before its listener closed is reset (ReadError 'Connection reset by "
    "peer' / RemoteProtocolError 'Server disconnected without sending a response'): uvicorn closes "
    "the listener (resetting its accept queue) and closes every connection with no complete request "
    "yet, and authserver (authserver/workers.py) has no drain phase; the deterministic case is "
    "test_a_request_partly_received_before_sigterm_is_answered",
    strict=False,
    raises=ResetDuringShutdown,
)
def test_sigterm_lets_in_flight_requests_finish_and_resets_none(nodes, register, service):
    a, b = nodes
    app = register(*SIGN_IN_GRANTS, "--redirect-uri", REDIRECT, name="Photo App")
    traffic = Traffic()
    traffic.run(a, "token", lambda: client_credentials(a, service), threads=2)
    traffic.run(b, "token", lambda: client_credentials(b, service), threads=4)
    traffic.run(b, "login", login_attempt(b, app), threads=3)
    traffic.run(b, "health", lambda: httpx.get(b.url("/healthz"), timeout=TIMEOUT), threads=2)
    try:
        time.sleep(2)
        sent = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        b.proc.wait(timeout=40)
        exited = time.monotonic()
        time.sleep(1)  # a little more traffic at the closed port, and on A
    finally:
        traffic.finish()
    log = b.output()
    assert b.proc.returncode in (0, -signal.SIGTERM), log

    on_b = traffic.outcomes("B")
    other = {o: n for o, n in on_b.items() if o not in ("ok", CONNECT) and not o.startswith(RESET)}
    assert other == {}, f"requests to B during its shutdown: {dict(on_b)}"
    in_flight = [r for r in traffic.records if r.node == "B" and r.started < sent < r.ended and r.outcome == "ok"]
    assert in_flight, f"no request was in flight at SIGTERM: {dict(on_b)}"
    assert on_b[CONNECT] > 0, "traffic continued until B had stopped"
    assert all(r.outcome == CONNECT for r in traffic.records if r.node == "B" and r.started > exited)
    assert set(traffic.outcomes("A")) == {"ok"}, traffic.outcomes("A")
    assert "Traceback" not in log, log[-4000:]
    # Node A is untouched: it still serves and verifies what it issued.
    token = client_credentials(a, service)
    assert token.status_code == 200
    verify(token.json()["access_token"], jwks(a), a.base, typ="at+jwt")
    resets = {o: n for o, n in on_b.items() if o.startswith(RESET)}
    if resets:
        raise ResetDuringShutdown(f"requests to B reset while it stopped: {dict(on_b)}")


# --- one request, byte by byte, across the SIGTERM ---------------------------------------------------------


@pytest.fixture
def lone_node(env, tmp_path):  # type: ignore[no-untyped-def]
    node = start_node(env, tmp_path, "B")
    yield node
    shutdown([node])


def raw_token_request(node: Node, client: dict) -> tuple[bytes, bytes]:
    """A client-credentials request as raw HTTP/1.1: (head, body)."""
    body = b"grant_type=client_credentials"
    auth = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    head = (
        f"POST /token HTTP/1.1\r\nHost: {node.base.split('//')[1]}\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode()
    return head, body


def send_across_sigterm(node: Node, first: bytes, rest: bytes) -> bytes:
    """Send `first`, let the server read it, SIGTERM the server, send `rest`; whatever comes back."""
    port = int(node.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(first)
        time.sleep(0.5)  # the server has accepted the connection and read these bytes
        node.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # uvicorn notices the signal within 0.1 s and starts its shutdown
        received = b""
        try:
            sock.sendall(rest)
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:  # reset by the server
            pass
    node.proc.wait(timeout=40)
    return received


def test_a_request_being_received_at_sigterm_is_answered_and_new_connections_refused(lone_node, service):
    """Headers in before the SIGTERM, body after: the request is in flight and gets its response; a new
    connection meanwhile is refused (ConnectError: a load balancer retries it elsewhere)."""
    head, body = raw_token_request(lone_node, service)
    port = int(lone_node.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(head + body[:5])
        time.sleep(0.5)
        lone_node.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(lone_node.url("/healthz"), timeout=5)
        assert lone_node.proc.poll() is None, "the node waits for its in-flight request"
        sock.sendall(body[5:])
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 "), received[:300]
    assert b'"access_token"' in received
    lone_node.proc.wait(timeout=40)
    assert lone_node.proc.returncode in (0, -signal.SIGTERM), lone_node.output()


@pytest.mark.xfail(
    reason="Documented limitation without a drain period (README, Graceful shutdown): a request whose first "
    "bytes arrived before SIGTERM but whose headers were not complete is dropped: uvicorn's shutdown "
    "closes every connection that has no parsed request (httptools_impl.py shutdown()). "
    "AUTHSERVER_SHUTDOWN_DRAIN_SECONDS (compose: 6) keeps serving while the proxy takes the node out",
    strict=True,
)
def test_a_request_partly_received_before_sigterm_is_answered(lone_node, service):
    head, body = raw_token_request(lone_node, service)
    received = send_across_sigterm(lone_node, head[:40], head[40:] + body)
    assert received.startswith(b"HTTP/1.1 200 "), f"got {received[:300]!r} instead of a response"


def test_rolling_restart_keeps_traffic_and_state(nodes, cli, register, service, env, tmp_path):
    # The traffic below spends the service client's per-minute token budget within seconds; the new node
    # must be judged on serving, not on the limit (rate limits have tests of their own).
    env["AUTHSERVER_RATE_LIMIT_TOKEN"] = "1000000/minute"
    env["AUTHSERVER_RATE_LIMIT_TOKEN_IP"] = "1000000/minute"
    a, b = nodes
    create_user(cli, "alice")
    app = register(*SIGN_IN_GRANTS, "--redirect-uri", REDIRECT, name="Photo App")
    browser = Browser()
    started: list[Node] = []
    try:
        # State made on the old B: a browser session, a refresh token, a revoked access token.
        callback, verifier, _ = sign_in(browser, Steps(b), app, username="alice")
        response = redeem(b, app, callback["code"], verifier)
        assert response.status_code == 200, response.text
        tokens = response.json()
        revoked = client_credentials(b, service).json()["access_token"]
        assert revoke(b, service, revoked).status_code == 200

        traffic = Traffic()
        traffic.run(a, "token", lambda: client_credentials(a, service), threads=3)
        try:
            time.sleep(0.5)
            stop_node(b)
            new_b = start_node(env, tmp_path, "B2", issuer=a.base)
            started.append(new_b)
            time.sleep(0.5)
        finally:
            traffic.finish()
        on_a = traffic.outcomes("A")
        assert set(on_a) == {"ok"} and on_a["ok"] > 10, on_a

        assert new_b.base != b.base
        assert httpx.get(new_b.url("/.well-known/openid-configuration")).json()["issuer"] == a.base
        fresh = client_credentials(new_b, service)
        assert fresh.status_code == 200
        kid = jwt_parts(fresh.json()["access_token"])[0]["kid"]
        assert kid == jwt_parts(tokens["access_token"])[0]["kid"], "the new node signs with the shared key"
        verify(fresh.json()["access_token"], jwks(a), a.base, typ="at+jwt")
        # The session, the refresh token and the revocation all outlive the old process.
        callback, verifier, seen = sign_in(browser, Steps(new_b), app, username="alice")
        assert seen == []
        assert redeem(new_b, app, callback["code"], verifier).status_code == 200
        assert refresh(new_b, app, tokens["refresh_token"]).status_code == 200
        assert introspect(new_b, service, revoked) == {"active": False}
        assert introspect(new_b, app, tokens["access_token"])["active"] is True
        page = browser.get(new_b, "/account")
        assert page.status_code == 200 and "alice@example.com" in page.text
        assert PASSWORD not in page.text
    finally:
        browser.close()
        shutdown(started)
