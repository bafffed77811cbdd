"""Slow and oversized clients against a real `authserver serve` (issue 9 finding 13): many connections
trickling their headers one byte at a time do not hold the server; a normal client is served promptly
meanwhile, and the slow connections are closed at the header deadline. Oversized headers get 431, and an
idle kept-alive connection is closed."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.cluster import Node, shutdown, start_node

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
# Long enough that, on a loaded machine, ten normal requests finish while every slow connection is open.
HEADER_TIMEOUT = 10.0
KEEP_ALIVE = 2.0
SLOW = 200


@pytest.fixture
def node(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    started = start_node(
        env,
        tmp_path,
        "A",
        extra={
            "AUTHSERVER_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "AUTHSERVER_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
        },
        ready_within=120,
    )
    yield started
    shutdown([started])


def connect(node: Node) -> socket.socket:
    host, port = node.base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def whole_request(sock: socket.socket) -> None:
    """One complete GET /healthz on `sock`, its whole response read (headers and body)."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(10)
    data = b""
    while not data.endswith(b'{"status":"ok"}'):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (monotonic)."""
    sock.settimeout(within)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return data, time.monotonic()
        if not chunk:
            return data, time.monotonic()
        data += chunk


class Slowloris:
    """SLOW connections, each sending a request line and then one header byte per round."""

    def __init__(self, node: Node, count: int) -> None:
        self.opened: dict[socket.socket, float] = {}
        self.closed: dict[socket.socket, tuple[float, bytes]] = {}
        for i in range(count):
            sock = connect(node)
            if i % 4 == 0:  # a kept-alive connection: one whole request first, then the slow one
                whole_request(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sock.setblocking(False)
            self.opened[sock] = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.is_set() and len(self.closed) < len(self.opened):
            open_ = [s for s in self.opened if s not in self.closed]
            readable, _, _ = select.select(open_, [], [], 0.25)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, BlockingIOError, OSError):
                    data = b""
                self.closed[sock] = (time.monotonic(), data)
            for sock in open_:
                if sock in self.closed:
                    continue
                try:
                    sock.send(b"a")
                except OSError:  # broken pipe, reset
                    self.closed[sock] = (time.monotonic(), b"")

    def wait_closed(self, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.closed) < len(self.opened) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop.set()
        self._thread.join(5)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.opened:
            sock.close()


def test_slow_headers_do_not_hold_the_server(node: Node):
    slow = Slowloris(node, SLOW)
    try:
        started = min(slow.opened.values())
        # While every slow connection is still open, a normal client is served at once, again and again.
        timings = []
        for _ in range(10):
            begun = time.monotonic()
            response = httpx.get(node.url("/healthz"), timeout=10)
            timings.append(time.monotonic() - begun)
            assert response.status_code == 200
        assert not slow.closed, "the slow connections were still open while the normal client was served"
        assert max(timings) < 2.0, timings
        # Then the deadline closes every slow connection, with a 408, however it kept trickling.
        slow.wait_closed(HEADER_TIMEOUT + 30)
        assert len(slow.closed) == SLOW, f"{SLOW - len(slow.closed)} slow connections still open"
        for sock, (when, data) in slow.closed.items():
            assert when - slow.opened[sock] >= HEADER_TIMEOUT - 1.0, "closed by the deadline, not before"
            assert data.startswith(b"HTTP/1.1 408"), data[:100]
        assert time.monotonic() - started < HEADER_TIMEOUT + 30
        assert httpx.get(node.url("/healthz"), timeout=10).status_code == 200
    finally:
        slow.close()


def test_an_idle_kept_alive_connection_is_closed(node: Node):
    with connect(node) as sock:
        whole_request(sock)
        idle_since = time.monotonic()
        data, closed = read_until_closed(sock, within=KEEP_ALIVE + 20)
        assert data == b""
        assert KEEP_ALIVE - 0.5 <= closed - idle_since < KEEP_ALIVE + 20


SIZES = [
    ("12 KB header", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 12_000 + b"\r\n\r\n", b"200"),
    ("20 KB header", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", b"431"),
    (
        "200 headers",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 90) for i in range(200)),
        b"431",
    ),
    ("20 KB URL", b"GET /healthz?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"431"),
    # One header that never ends: refused once it outgrows the bound, not buffered forever.
    ("endless header", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: " + b"z" * 200_000, b"431"),
]


def test_header_size_is_bounded(node: Node):
    for name, request_bytes, status in SIZES:
        with connect(node) as sock:
            # The server may answer and close while the rest is still being sent.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(request_bytes)
            data, _ = read_until_closed(sock, within=1.0 if status == b"200" else 20)
        assert data.startswith(b"HTTP/1.1 " + status), (name, data[:200])
    assert httpx.get(node.url("/healthz"), timeout=10).status_code == 200
