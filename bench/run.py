"""`make bench`: load-test a real `authserver serve --workers 2` on PostgreSQL + Redis with wrk.

Steps: a throw-away database and cache prefix, `authserver migrate`, one confidential client, a
user and a first-party sign-in client, the server on a free 127.0.0.1 port; then wrk (-t2 -c8
--latency) against /token, /introspect, /jwks.json and discovery; RSS and CPU share per worker; then
the mixed scenario (bench/mixed.py: httpx threads in separate processes running sign-ins with PKCE,
refreshes, client-credentials tokens and introspections) with count, errors, req/s and p50/p99 per
endpoint; the raw RS256 signing rate of two processes and the cost of one argon2 verification for
comparison. Prints a report with the issue's targets next to the figures and writes it to
bench/results/latest.json.

A missed target is a finding, not a failure: the exit status is non-zero only when the harness
itself cannot run (no wrk, no database, the server does not start, wrk fails).

Environment (all optional):
  BENCH_DURATION       seconds per measured scenario (default 10)
  BENCH_WARMUP         seconds of warm-up traffic before each scenario (default 2)
  BENCH_SIGN_SECONDS   seconds of the raw RS256 signing loop (default 3)
  BENCH_CONNECTIONS    wrk connections (default 8)
  BENCH_THREADS        wrk threads (default 2)
  BENCH_WORKERS        uvicorn workers (default 2)
  BENCH_MIXED_DURATION seconds of the mixed scenario (default 15; 0 to skip it)
  BENCH_MIXED_PROCESSES load-generator processes of the mixed scenario (default 2)
  BENCH_MIXED_THREADS  threads (simulated users) per load-generator process (default 4)
  BENCH_MIXED_WEIGHTS  the mix (default signin=1,refresh=5,client_credentials=4,introspect=10)
  BENCH_PROFILE        1: sample the workers with py-spy in each scenario and print time per layer
  BENCH_KEEP_RATE_LIMITS 1: keep the server's rate limits (by default they are raised out of reach)
  BENCH_DATABASE_URL   an existing PostgreSQL database to connect to for CREATE/DROP DATABASE
                       (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
  BENCH_REDIS_URL      Redis for the server's cache (default redis://127.0.0.1:6379/0)
  BENCH_REFERENCE      0: skip the side-by-side run of node-oidc-provider (bench/reference.py)
"""

from __future__ import annotations

import base64
import json
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

# bench/'s modules, importable once its folder is on sys.path (make bench runs this file as a script).
import reference  # noqa: E402
from deployment import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    RAISED_RATE_LIMIT,
    Database,
    authserver_command,
    check_redis,
    clean_redis,
    rate_limit_env,
    server_env,
    server_log_findings,
)
from harness import (  # noqa: E402
    HOST,
    RESULTS_DIR,
    ROOT,
    HarnessError,
    Server,
    become_subreaper,
    cpu_sample,
    ensure_wrk,
    env_number,
    finish_profile,
    free_port,
    git_commit,
    http,
    log,
    machine_busy_seconds,
    py_spy,
    raw_signing_rate,
    run_cli,
    run_wrk,
    serving_pids,
    start_profile,
    status_kb,
    wait_healthy,
    wait_idle,
    wait_workers,
    worker_memory,
    wrk_version,
)
from mixed_scenario import (  # noqa: E402
    DEFAULT_MIXED_WEIGHTS,
    MIXED_REDIRECT_URI,
    MIXED_SCOPE,
    MIXED_USERNAME,
    argon2_cost,
    mixed_weights,
    run_mixed,
)
from report import (  # noqa: E402
    build_targets,
    findings,
    print_report,
)

SCENARIOS = [
    # name, method, path, wrk script
    ("trivial", "GET", "/healthz", None),  # the fixed cost of any request: middleware, routing, metrics, log
    ("token", "POST", "/token", "token.lua"),
    ("introspect", "POST", "/introspect", "introspect.lua"),
    ("jwks", "GET", "/jwks.json", None),
    ("discovery", "GET", "/.well-known/openid-configuration", None),
]


def bench() -> dict:
    duration = env_number("BENCH_DURATION", 10, minimum=1)
    warmup = env_number("BENCH_WARMUP", 2, minimum=0)
    sign_seconds = env_number("BENCH_SIGN_SECONDS", 3, minimum=0.5)
    connections = int(env_number("BENCH_CONNECTIONS", 8, minimum=1))
    threads = int(env_number("BENCH_THREADS", 2, minimum=1))
    workers = int(env_number("BENCH_WORKERS", 2, minimum=1))
    threads = min(threads, connections)
    mixed_duration = env_number("BENCH_MIXED_DURATION", 15, minimum=0)
    mixed_processes = int(env_number("BENCH_MIXED_PROCESSES", 2, minimum=1))
    mixed_threads = int(env_number("BENCH_MIXED_THREADS", 4, minimum=1))
    weights = mixed_weights(os.environ.get("BENCH_MIXED_WEIGHTS") or DEFAULT_MIXED_WEIGHTS)
    keep_limits = os.environ.get("BENCH_KEEP_RATE_LIMITS", "").strip() not in ("", "0")
    limits_env = {} if keep_limits else rate_limit_env()
    admin_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL

    wrk = ensure_wrk()
    spy = None
    if os.environ.get("BENCH_PROFILE", "").strip() not in ("", "0"):
        spy = py_spy()
        if spy is None:
            raise HarnessError("BENCH_PROFILE needs py-spy: .venv/bin/pip install py-spy")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    run_id = secrets.token_hex(6)
    port = free_port()
    base = f"http://{HOST}:{port}"
    prefix = f"authserver-bench-{run_id}:"
    server_log = RESULTS_DIR / "server.log"
    json_path = RESULTS_DIR / "latest.json"
    cli = authserver_command()

    report: dict = {
        "meta": {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "commit": git_commit(),
            "python": platform.python_version(),
            "wrk": wrk_version(wrk),
            "cpus": os.cpu_count(),
            "workers": workers,
            "threads": threads,
            "connections": connections,
            "duration_s": duration,
            "warmup_s": warmup,
            "rate_limits": "server defaults" if keep_limits or not limits_env else f"raised to {RAISED_RATE_LIMIT}",
            "server_log": str(server_log.relative_to(ROOT)),
            "json_path": str(json_path.relative_to(ROOT)),
        }
    }

    check_redis(redis_url)
    db = Database(admin_url)
    server: Server | None = None
    keys_dir = tempfile.mkdtemp(prefix="authserver-bench-keys-")
    try:
        db.create()
        report["meta"]["postgres"] = db.server_version
        # Measured before the server starts, so nothing of ours competes with it.
        log(f"raw RS256 signing rate: 2 processes x {sign_seconds:g} s")
        report["raw_rs256"] = raw_signing_rate(2, sign_seconds)
        if mixed_duration > 0:
            report["argon2"] = argon2_cost()
        log(f"database {db.name}, cache prefix {prefix!r}, server on {base}")
        env = server_env(db.url, redis_url, prefix, base, keys_dir, limits_env)
        run_cli([*cli, "migrate"], env, "authserver migrate")
        created = json.loads(
            run_cli(
                [*cli, "client", "create", "--name", "bench", "--scope", "api:read", "--json"],
                env,
                "authserver client create",
            )
        )
        client_id, client_secret = created["client_id"], created["client_secret"]
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        if mixed_duration > 0:
            # The mixed scenario's user and first-party sign-in client (no consent step).
            password = secrets.token_urlsafe(24)
            run_cli(
                [
                    *cli,
                    "user",
                    "create",
                    "--username",
                    MIXED_USERNAME,
                    "--email",
                    "bench-user@bench.example",
                    "--password-stdin",
                    "--json",
                ],
                env,
                "authserver user create",
                stdin=password + "\n",
            )
            signin = json.loads(
                run_cli(
                    [
                        *cli,
                        "client",
                        "create",
                        "--name",
                        "bench-signin",
                        "--grant-type",
                        "authorization_code",
                        "--grant-type",
                        "refresh_token",
                        "--redirect-uri",
                        MIXED_REDIRECT_URI,
                        "--scope",
                        MIXED_SCOPE,
                        "--first-party",
                        "--json",
                    ],
                    env,
                    "authserver client create (sign-in client)",
                )
            )

        server = Server(
            [*cli, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)], env, server_log
        )
        server.start()
        wait_healthy(server, base)
        assert server.proc is not None
        pids = wait_workers(server, workers)
        wait_idle(server, pids)
        log(f"server up: supervisor {server.proc.pid}, workers {pids}")

        auth = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
        status, body = http("POST", base + "/token", body=b"grant_type=client_credentials", headers=auth)
        if status != 200:
            raise HarnessError(f"POST /token answered {status}: {body[:500]!r}")
        access_token = json.loads(body)["access_token"]
        status, body = http("POST", base + "/introspect", body=f"token={access_token}".encode(), headers=auth)
        if status != 200 or not json.loads(body).get("active"):
            raise HarnessError(f"POST /introspect answered {status}: {body[:500]!r}")
        for _, method, path, _script in SCENARIOS:
            if method == "GET":
                status, body = http("GET", base + path)
                if status != 200:
                    raise HarnessError(f"GET {path} answered {status}: {body[:500]!r}")

        wrk_env = {**os.environ, "BENCH_BASIC": basic, "BENCH_TOKEN": access_token}
        report["scenarios"] = {}
        report["wrk_output"] = {}
        for name, method, path, script in SCENARIOS:
            if warmup > 0:
                log(f"{name}: warm-up {warmup:g} s")
                run_wrk(
                    wrk,
                    base + path,
                    script=script,
                    seconds=warmup,
                    threads=threads,
                    connections=connections,
                    env=wrk_env,
                )
            log(f"{name}: {method} {path} for {duration:g} s")
            before, busy_before = cpu_sample(pids), machine_busy_seconds()
            profiling = start_profile(spy, pids, duration - 1, name) if spy else []
            result, raw_out = run_wrk(
                wrk, base + path, script=script, seconds=duration, threads=threads, connections=connections, env=wrk_env
            )
            after, busy_after = cpu_sample(pids), machine_busy_seconds()
            if profiling:
                result["profile"] = finish_profile(profiling)
            used = {pid: after[pid] - before[pid] for pid in pids}
            total = sum(used.values())
            result["p50_ms"] = result["percentiles_ms"]["50"]
            result["p99_ms"] = result["percentiles_ms"]["99"]
            result["cpu_s"] = total
            # Everything else that ran meanwhile: Redis, PostgreSQL, the supervisor, other programs.
            result["other_cpu_s"] = max(0.0, busy_after - busy_before - total - result["wrk_cpu_s"])
            result["cpu_by_worker_s"] = {str(p): v for p, v in used.items()}
            result["cpu_share"] = {str(p): (v / total if total > 0 else 0.0) for p, v in used.items()}
            result["cpu_ms_per_req"] = (total * 1000 / result["requests"]) if result["requests"] else None
            errors = result["non_2xx_3xx"] + sum(result["socket_errors"].values())
            result["flagged"] = errors > 0
            if result["non_2xx_3xx"]:
                # One more request shows what the errors look like.
                sample_body = (
                    f"token={access_token}".encode()
                    if name == "introspect"
                    else (b"grant_type=client_credentials" if name == "token" else None)
                )
                try:
                    st, bd = http(method, base + path, body=sample_body, headers=auth if script else None)
                    result["error_sample"] = f"{st} {bd[:160].decode(errors='replace')}"
                except OSError as exc:
                    result["error_sample"] = f"{type(exc).__name__}: {exc}"
            report["scenarios"][name] = result
            report["wrk_output"][name] = raw_out
            if not server.alive():
                raise HarnessError(f"the server exited during the {name} scenario:\n" + server.log_tail())

        now_pids = serving_pids(server, workers)
        report["worker_restarts"] = None if sorted(now_pids) == sorted(pids) else {"before": pids, "after": now_pids}
        # Read before the mixed scenario: the RSS target is about the wrk scenarios' workload.
        report["workers"] = worker_memory(now_pids)

        if mixed_duration > 0:
            cfg = {
                "base": base,
                "duration": mixed_duration,
                "warmup": warmup,
                "threads": mixed_threads,
                "weights": weights,
                "redirect_uri": MIXED_REDIRECT_URI,
                "scope": MIXED_SCOPE,
                "username": MIXED_USERNAME,
                "password": password,
                "signin_client_id": signin["client_id"],
                "signin_client_secret": signin["client_secret"],
                "cc_client_id": client_id,
                "cc_client_secret": client_secret,
            }
            log(
                f"mixed: {mixed_processes} processes x {mixed_threads} threads, "
                f"{warmup:g} s warm-up + {mixed_duration:g} s"
            )
            mixed_pids = now_pids
            report["mixed"] = run_mixed(cfg, mixed_processes, mixed_pids)
            report["mixed"].update(
                {
                    "processes": mixed_processes,
                    "threads": mixed_threads,
                    "weights": weights,
                    "duration_s": mixed_duration,
                }
            )
            if not server.alive():
                raise HarnessError("the server exited during the mixed scenario:\n" + server.log_tail())
            after_pids = serving_pids(server, workers)
            report["mixed"]["worker_restarts"] = (
                None if sorted(after_pids) == sorted(mixed_pids) else {"before": mixed_pids, "after": after_pids}
            )
            report["mixed"]["workers"] = worker_memory(after_pids)
        try:
            report["supervisor_rss_mb"] = None if workers == 1 else ((status_kb(server.proc.pid, "VmRSS") or 0) / 1024)
        except OSError:
            report["supervisor_rss_mb"] = None
    finally:
        if server is not None:
            log("stopping the server")
            server.stop()
        db.drop()
        clean_redis(redis_url, prefix)
        shutil.rmtree(keys_dir, ignore_errors=True)

    # The reference runs after our server stopped, on the same machine with the same wrk settings.
    skipped = reference.unavailable()
    if skipped is None:
        report["reference"] = reference.measure(
            wrk,
            workers=workers,
            threads=threads,
            connections=connections,
            seconds=duration,
            warmup=warmup,
            log_path=RESULTS_DIR / "reference.log",
        )
    else:
        log(f"reference skipped: {skipped}")
        report["reference"] = {"skipped": skipped}

    report["server_log"] = server_log_findings(server_log)
    report["targets"] = build_targets(report)
    report["findings"] = findings(report)
    report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> int:
    def on_term(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # so the finally blocks stop the server and drop the database

    signal.signal(signal.SIGTERM, on_term)
    become_subreaper()
    try:
        report = bench()
    except HarnessError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
