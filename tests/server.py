"""Run `authserver serve` as a real process for tests that need real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

AUTHSERVER = str(Path(sys.executable).with_name("authserver"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(env: dict[str, str], cwd: Path, *args: str, host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """`authserver serve` on 127.0.0.1 and a free port; its issuer names `host` (browsers refuse WebAuthn
    on an IP address, so passkey tests use "localhost")."""
    port = free_port()
    base = f"http://{host}:{port}"
    proc = subprocess.Popen(
        [AUTHSERVER, "serve", "--port", str(port), *args],
        env={**os.environ, **env, "AUTHSERVER_ISSUER": base},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90  # generous: a loaded CI machine starts Python slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stdout.read()}")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not become ready")


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("serve did not stop on SIGTERM") from None
    # uvicorn shuts down gracefully, then re-raises SIGTERM so supervisors see why it exited.
    assert proc.returncode in (0, -signal.SIGTERM), out
    return out


class LoggedServer:
    """`authserver serve` (tests.server.start) with its output drained by a thread, so a chatty log
    can never fill the pipe and stall the process; stop() returns the whole log."""

    def __init__(self, env: dict[str, str], cwd: Path, **extra_env: str) -> None:
        self.proc, self.base = start({**env, **extra_env}, cwd)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self._lines)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)
        return self.log


def assert_no_tracebacks(log: str) -> None:
    assert "Traceback" not in log, log
    assert "unhandled error" not in log, log
    assert "Exception in ASGI application" not in log, log
    assert '"status": 500' not in log, log  # the JSON access log
