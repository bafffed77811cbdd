"""Run the app in one or several uvicorn worker processes.

Several workers each bind their own listening socket with SO_REUSEPORT, so the kernel spreads new
connections across them. (uvicorn's own --workers shares one socket: whichever worker wakes first
accepts every pending connection, and long-lived keep-alive clients can pin one worker while the
other idles.) The supervisor forwards SIGTERM/SIGINT for a graceful stop and restarts a worker that
dies unexpectedly.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from types import FrameType

import uvicorn

from authserver import lifecycle
from authserver.connections import ConnectionLimits, protocol_class

APP = "authserver.app:app_from_env"
GRACEFUL_SECONDS = 20
logger = logging.getLogger("authserver.workers")


class DrainingServer(uvicorn.Server):
    """A uvicorn server that, on the first SIGTERM/SIGINT, first drains: /readyz answers 503 for
    `drain` seconds while everything else is still served, then shuts down gracefully."""

    def __init__(self, config: uvicorn.Config, drain: float) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain > 0 and not lifecycle.draining.is_set():
            lifecycle.draining.set()
            logger.info("draining for %.1f s before shutting down", self.drain)
            timer = threading.Timer(self.drain, lambda: uvicorn.Server.handle_exit(self, sig, frame))
            timer.daemon = True
            timer.start()
            return
        super().handle_exit(sig, frame)


def _config(log_level: str, forwarded_allow_ips: str, limits: ConnectionLimits) -> uvicorn.Config:
    return uvicorn.Config(
        APP,
        factory=True,
        # Header deadline and size bound per connection (authserver/connections.py); keep-alive idle limit.
        http=protocol_class(limits),
        timeout_keep_alive=limits.keep_alive,  # type: ignore[arg-type]  # a float works; the stubs say int
        log_level=log_level,
        log_config=None,  # authserver.logs configures JSON logging in each worker
        access_log=False,  # our access log omits query strings (they can carry codes)
        # The client address comes from X-Forwarded-For only when the peer is a trusted proxy. (URLs
        # come from the configured issuer, never from Host or X-Forwarded-Proto.)
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(
    host: str, port: int, log_level: str, forwarded_allow_ips: str, drain: float, limits: ConnectionLimits
) -> None:
    sock = _listen(host, port)
    DrainingServer(_config(log_level, forwarded_allow_ips, limits), drain).run(sockets=[sock])


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str,
    forwarded_allow_ips: str = "",
    drain: float = 0,
    limits: ConnectionLimits | None = None,
) -> None:
    limits = limits or ConnectionLimits()
    if workers == 1:
        config = _config(log_level, forwarded_allow_ips, limits)
        config.host, config.port = host, port
        DrainingServer(config, drain).run()
        return
    if port == 0:
        port = _free_port(host)
    # Fail in the parent, with a clear message, if the address cannot be bound at all.
    _listen(host, port).close()
    # prometheus-client's multiprocess mode: each worker writes its samples here, /metrics sums them.
    metrics_dir = tempfile.mkdtemp(prefix="authserver-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    spawn = multiprocessing.get_context("spawn")
    procs = [
        spawn.Process(target=_worker, args=(host, port, log_level, forwarded_allow_ips, drain, limits), daemon=False)
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    print(f"authserver: {workers} workers on http://{host}:{port} (SO_REUSEPORT)", flush=True)

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive() and proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)  # each worker drains its requests, then exits

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts = 0
    while not stopping:
        for i, proc in enumerate(procs):
            if not proc.is_alive() and not stopping:
                # Back off when workers keep dying (a broken configuration must not spin the CPU).
                delay = min(2.0**restarts, 30.0)
                logger.error("worker %s exited with %s; starting a new one in %.0f s", proc.pid, proc.exitcode, delay)
                time.sleep(delay)
                restarts += 1
                procs[i] = spawn.Process(
                    target=_worker, args=(host, port, log_level, forwarded_allow_ips, drain, limits), daemon=False
                )
                procs[i].start()
        time.sleep(0.5)
    deadline = time.monotonic() + drain + GRACEFUL_SECONDS + 5  # a timeout measured in-process
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
    shutil.rmtree(metrics_dir, ignore_errors=True)
