"""Beyond one Redis: the server on a real Sentinel set-up (a primary, a replica, a Sentinel, and a
failover) and on a real 3-node Redis Cluster, each started here on free loopback ports and stopped
afterwards. What goes through Redis must work the same: revocations (written by one app, read by
another with the multi-key lookup and its asynchronous twin), rate limits, the guess throttle."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import basic, client_token

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH"),
]
WARM = {
    "client_cache_seconds": 60,
    "key_refresh_seconds": 60,
    "revocation_sync_seconds": 60,
}  # so introspection takes the event-loop path


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(*, bus: bool = False) -> int:
    """A free loopback port (and, for a Cluster node, its bus port + 10000 free too)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not bus or (port < 55535 and _free(port + 10000)):
            return port
    raise AssertionError("no free port")


class Processes:
    """Every redis-server this test starts; all stopped at the end, whatever happens."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []

    def redis(self, port: int, *args: str, config: str | None = None) -> None:
        folder = self.workdir / str(port)
        folder.mkdir()
        cmd = ["redis-server"]
        if config is not None:
            (folder / "redis.conf").write_text(config)
            cmd.append(str(folder / "redis.conf"))
        cmd += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"]
        proc = subprocess.Popen([*cmd, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert proc.poll() is None, f"redis-server on {port} exited"
                assert time.monotonic() < deadline, f"redis-server on {port} did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:  # type: ignore[no-untyped-def]
    started = Processes(tmp_path)
    yield started
    started.stop()


def wait_for(check, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def sentinel(processes) -> tuple[str, int, int, int]:  # type: ignore[no-untyped-def]
    """(URL, primary port, replica port, sentinel port): one Sentinel (quorum 1) watching a primary
    and its replica."""
    primary, replica, watcher = free_port(), free_port(), free_port()
    processes.redis(primary)
    processes.redis(replica, "--replicaof", "127.0.0.1", str(primary))
    config = (
        f"sentinel monitor mymaster 127.0.0.1 {primary} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
        "sentinel failover-timeout mymaster 5000\n"
    )
    processes.redis(watcher, "--sentinel", config=config)
    watch = redis.Redis(port=watcher, decode_responses=True)
    wait_for(lambda: watch.sentinel_master("mymaster").get("num-slaves", 0) >= 1, "the Sentinel to see the replica")
    return f"redis+sentinel://127.0.0.1:{watcher}/mymaster", primary, replica, watcher


@pytest.fixture
def cluster(processes) -> tuple[str, list[int]]:  # type: ignore[no-untyped-def]
    """(URL, ports): a 3-node Redis Cluster, all primaries, every slot covered."""
    ports = [free_port(bus=True) for _ in range(3)]
    for port in ports:
        processes.redis(port, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
    created = subprocess.run(
        [
            "redis-cli",
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    for port in ports:
        node = redis.Redis(port=port, decode_responses=True)
        wait_for(lambda node=node: node.cluster("info")["cluster_state"] == "ok", f"cluster state ok on {port}")
    return f"redis+cluster://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", ports


def introspect(http, client, token):  # type: ignore[no-untyped-def]
    auth = basic(client["client_id"], client["client_secret"])
    return http.post("/introspect", data={"token": token}, headers=auth).json()


def exercise(make_app, register, api, url: str) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    """Revocation across two apps, rate limits; returns the client and the access token it revoked."""
    # An hour's window: a minute's could roll over on a loaded machine before the test reaches the 429s.
    one = make_app(redis_url=url, rate_limit_token="3/hour", **WARM)
    other = make_app(redis_url=url, rate_limit_token="3/hour", **WARM)
    client = register(name="svc")
    token = client_token(one, client)["access_token"]
    for http in (one, other):
        assert introspect(http, client, token)["active"] is True
        assert introspect(http, client, token)["active"] is True  # the second on the event loop
    auth = basic(client["client_id"], client["client_secret"])
    assert other.post("/revoke", data={"token": token}, headers=auth).status_code == 200
    for http in (one, other):
        assert introspect(http, client, token) == {"active": False}
    # The window's 3 tokens are shared by both apps: 1 used above, 2 more, then 429 on either.
    grant = {"grant_type": "client_credentials"}
    assert [http.post("/token", data=grant, headers=auth).status_code for http in (one, other)] == [200, 200]
    assert one.post("/token", data=grant, headers=auth).status_code == 429
    assert other.post("/token", data=grant, headers=auth).status_code == 429
    return client, token


def test_a_sentinel_managed_primary_and_its_failover(make_app, register, api, sentinel):
    url, primary, replica, watcher = sentinel
    owner, revoked = exercise(make_app, register, api, url)
    assert redis.Redis(port=primary).dbsize() > 0  # the data went to the primary the Sentinel named

    watch = redis.Redis(port=watcher, decode_responses=True)
    wait_for(lambda: redis.Redis(port=replica).dbsize() == redis.Redis(port=primary).dbsize(), "replication")
    watch.execute_command("SENTINEL", "FAILOVER", "mymaster")
    wait_for(lambda: int(watch.sentinel_master("mymaster")["port"]) == replica, "the failover", timeout=60)
    wait_for(lambda: redis.Redis(port=replica).info("replication")["role"] == "master", "the replica's promotion")
    # The same URL now reaches the new primary: what was revoked stays revoked, new writes work.
    http = make_app(redis_url=url)
    deadline = time.monotonic() + 30
    while True:  # the first requests may meet the old primary's connections closing (a 503), then recover
        response = http.post(
            "/introspect", data={"token": revoked}, headers=basic(owner["client_id"], owner["client_secret"])
        )
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.json() == {"active": False}
    client = register(name="after-failover")
    token = client_token(http, client)["access_token"]
    auth = basic(client["client_id"], client["client_secret"])
    assert http.post("/revoke", data={"token": token}, headers=auth).status_code == 200
    assert introspect(http, client, token) == {"active": False}


def test_a_three_node_cluster(make_app, register, api, cluster):
    url, ports = cluster
    exercise(make_app, register, api, url)
    # The keys spread over the nodes by hash slot; a cross-slot MGET would have been refused.
    sizes = [redis.Redis(port=p).dbsize() for p in ports]
    assert sum(sizes) > 0
    assert sum(1 for s in sizes if s) >= 2, sizes


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "must start with one of"),
        ("redis+sentinel://127.0.0.1:26379", "names the service"),
        ("redis+cluster://127.0.0.1:7000/1", "database 0 only"),
        ("redis+cluster://127.0.0.1:x", "not host:port"),
    ],
)
def test_a_malformed_redis_url_stops_serve_with_a_clear_message(cli, monkeypatch, url, message):
    monkeypatch.setenv("AUTHSERVER_REDIS_URL", url)
    result = cli("serve", "--port", "0")
    assert result.code == 1
    assert "AUTHSERVER_REDIS_URL" in result.err and message in result.err
