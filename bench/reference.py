"""The reference: the certified node-oidc-provider (bench/reference/server.mjs), measured in the same run.

It runs in as many processes as authserver has workers (node:cluster), issues RS256 JWT access tokens
by client credentials (resource indicators with accessTokenFormat "jwt", as the issue measured it),
and gets the same wrk settings, so "tokens/s ≥ 1.2 × the reference" is a ratio of one machine's
figures under one load. Introspection is not compared: node-oidc-provider does not introspect JWT
access tokens.

Needs Node.js and npm: the first run installs the locked oidc-provider from the npm registry into
bench/reference/node_modules (`npm ci`, bench/reference/package-lock.json). Without them, or with
BENCH_REFERENCE=0, the report says the reference was skipped.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from harness import (
    BENCH_DIR,
    HOST,
    HarnessError,
    Server,
    children_of,
    cpu_sample,
    free_port,
    http,
    log,
    run_wrk,
    status_kb,
    wait_healthy,
)

REF_DIR = BENCH_DIR / "reference"
DISCOVERY = "/.well-known/openid-configuration"
# name, method, path, wrk script: the scenarios both servers have (token.lua posts client_credentials).
SCENARIOS = [
    ("token", "POST", "/token", "token.lua"),
    ("jwks", "GET", "/jwks", None),
    ("discovery", "GET", DISCOVERY, None),
]


def unavailable() -> str | None:
    """Why the reference cannot run here, or None."""
    if os.environ.get("BENCH_REFERENCE", "").strip() == "0":
        return "BENCH_REFERENCE=0"
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def install() -> None:
    """`npm ci` when node_modules is missing or older than the lock file."""
    installed = REF_DIR / "node_modules" / ".package-lock.json"
    lock = REF_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("reference: npm ci (node-oidc-provider, as locked in bench/reference/package-lock.json)")
    try:
        proc = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=REF_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        raise HarnessError("npm ci in bench/reference did not finish within 10 minutes") from None
    if proc.returncode != 0:
        raise HarnessError("npm ci in bench/reference failed:\n" + proc.stderr[-2000:])


def _wait_for_workers(server: Server, count: int, timeout: float = 30.0) -> list[int]:
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = children_of(server.proc.pid)
        if len(pids) >= count:
            return pids
        time.sleep(0.2)
    raise HarnessError(f"the reference did not start {count} worker processes:\n" + server.log_tail())


def measure(
    wrk: str, *, workers: int, threads: int, connections: int, seconds: float, warmup: float, log_path: Path
) -> dict:
    """The reference's figures per scenario (req/s, p99, workers' CPU per request) and its memory."""
    install()
    port = free_port()
    base = f"http://{HOST}:{port}"
    client_id, secret = "bench-reference", secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "PORT": str(port),
        "WORKERS": str(workers),
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "NODE_ENV": "production",
    }
    server = Server(["node", str(REF_DIR / "server.mjs")], env, log_path)
    server.start()
    try:
        wait_healthy(server, base, path=DISCOVERY)
        pids = _wait_for_workers(server, workers)
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        status, body = http(
            "POST",
            base + "/token",
            body=b"grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise HarnessError(f"the reference's POST /token answered {status}: {body[:300]!r}")
        wrk_env = {**os.environ, "BENCH_BASIC": basic}
        scenarios: dict[str, dict] = {}
        for name, method, path, script in SCENARIOS:
            if warmup > 0:
                run_wrk(
                    wrk,
                    base + path,
                    script=script,
                    seconds=warmup,
                    threads=threads,
                    connections=connections,
                    env=wrk_env,
                )
            log(f"reference {name}: {method} {path} for {seconds:g} s")
            before = cpu_sample(pids)
            result, _ = run_wrk(
                wrk, base + path, script=script, seconds=seconds, threads=threads, connections=connections, env=wrk_env
            )
            after = cpu_sample(pids)
            total = sum(after[p] - before[p] for p in pids)
            result["p99_ms"] = result["percentiles_ms"].get("99")
            result["cpu_s"] = total
            result["cpu_ms_per_req"] = (total * 1000 / result["requests"]) if result["requests"] else None
            result["flagged"] = bool(result["non_2xx_3xx"] or sum(result["socket_errors"].values()))
            scenarios[name] = result
        assert server.proc is not None
        rss_kb = 0
        for pid in [server.proc.pid, *pids]:
            rss_kb += status_kb(pid, "VmRSS") or 0
        return {"server": "node-oidc-provider", "processes": workers, "scenarios": scenarios, "rss_mb": rss_kb / 1024}
    finally:
        server.stop()
