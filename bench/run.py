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
"""

from __future__ import annotations

import base64
import contextlib
import json
import multiprocessing
import os
import platform
import queue
import re
import resource
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import mixed  # noqa: E402 - bench/mixed.py, importable only once its folder is on sys.path;, the mixed scenario's load generator

ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"  # all traffic stays on loopback

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# The targets.
TARGET_TOKEN_RATIO = 0.50  # token endpoint req/s >= 50% of the two-process raw RS256 signing rate
TARGET_INTROSPECT_RPS = 8_000
TARGET_STATIC_RPS = 20_000  # JWKS and discovery, on 2 workers
TARGET_FIXED_US = 60.0  # CPU of a trivial request through the full middleware stack (GET /healthz)
TARGET_TOKEN_P99_MS = 5.0
TARGET_RSS_MB = 120.0
# Not a target from the issue: a worker doing less than this share of a scenario's work is flagged.
UNEVEN_SHARE = 0.25


class HarnessError(Exception):
    """The benchmark cannot run; exit 1 with this message."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def env_number(name: str, default: float, *, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise HarnessError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise HarnessError(f"{name} must be at least {minimum}")
    return value


# --------------------------------------------------------------------------------------------- wrk


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found; installing it with apt-get (running as root)")
        quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
        try:
            subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300, **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=300, **quiet)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise HarnessError(f"installing wrk with apt-get failed: {exc}") from None
        path = shutil.which("wrk")
        if path:
            return path
    raise HarnessError(
        "wrk (the HTTP load generator) is not installed. Install it, e.g. `sudo apt-get install wrk` "
        "on Debian/Ubuntu, then run `make bench` again."
    )


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


def parse_wrk(output: str) -> dict:
    """Requests/sec, latency (ms), request count, socket errors and non-2xx/3xx from wrk's text."""
    result: dict = {
        "rps": None,
        "latency_avg_ms": None,
        "latency_max_ms": None,
        "percentiles_ms": {},
        "requests": None,
        "seconds": None,
        "non_2xx_3xx": 0,
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }
    if m := re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M):
        result["rps"] = float(m.group(1))
    if m := re.search(rf"^\s+Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", output, re.M):
        result["latency_avg_ms"] = _ms(m.group(1), m.group(2))
        result["latency_max_ms"] = _ms(m.group(5), m.group(6))
    for m in re.finditer(rf"^\s+(\d+(?:\.\d+)?)%\s+{_TIME}\s*$", output, re.M):
        result["percentiles_ms"][m.group(1)] = _ms(m.group(2), m.group(3))
    if m := re.search(rf"^\s+(\d+) requests in {_TIME}", output, re.M):
        result["requests"] = int(m.group(1))
        result["seconds"] = _ms(m.group(2), m.group(3)) / 1000.0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        names = ("connect", "read", "write", "timeout")
        result["socket_errors"] = dict(zip(names, map(int, m.groups()), strict=True))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result["non_2xx_3xx"] = int(m.group(1))
    if result["rps"] is None or "50" not in result["percentiles_ms"] or "99" not in result["percentiles_ms"]:
        raise HarnessError("could not parse wrk's output:\n" + output)
    return result


def run_wrk(
    wrk: str, url: str, *, script: str | None, seconds: float, threads: int, connections: int, env: dict
) -> tuple[dict, str]:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if script:
        cmd += ["-s", str(BENCH_DIR / script)]
    cmd.append(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"wrk did not finish: {' '.join(cmd)}") from None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise HarnessError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    result = parse_wrk(proc.stdout)
    # wrk shares the machine with the server: its own CPU time says how much was left for the workers.
    result["wrk_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, proc.stdout


# ------------------------------------------------------------------------------------- profiling

# Where a sampled stack's time goes: the layer of its innermost frame that belongs to one (in this
# order when a frame matches several).
PROFILE_LAYERS = [
    ("RS256 sign/verify (cryptography)", ("jws_rs256.py:Signer.sign", "jws_rs256.py:verify", "jws_algs.py")),
    ("Redis round trips", ("redis/",)),
    ("database", ("sqlalchemy/", "psycopg/")),
    ("thread hop (anyio to_thread)", ("anyio/to_thread", "threading.py", "queue.py")),
    ("access log / logging", ("logging/", "structlog/")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("rate limiter", ("ratelimit.py",)),
    ("client auth, grants (authserver.oauth, authlib)", ("authserver/oauth/", "authlib/")),
    ("form and response handling (authserver.web)", ("authserver/web/", "authserver/endpoints/")),
    ("starlette routing and middleware", ("starlette/", "authserver/metrics.py")),
    ("uvicorn: HTTP parsing, socket writes, the event loop", ("uvicorn/", "asyncio/", "httptools")),
]


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start_profile(spy: str, pids: list[int], seconds: float, name: str) -> list[tuple[subprocess.Popen, Path]]:
    runs = []
    for pid in pids:
        out = RESULTS_DIR / f"profile-{name}-{pid}.txt"
        cmd = [spy, "record", "-r", "200", "-d", str(max(1, int(seconds))), "-f", "raw", "-o", str(out)]
        cmd += ["-p", str(pid), "--nonblocking"]
        runs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))
    return runs


def finish_profile(runs: list[tuple[subprocess.Popen, Path]]) -> dict | None:
    """Share of the workers' busy samples per layer (py-spy counts running threads only)."""
    counts: dict[str, int] = {}
    total = 0
    for proc, out in runs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not out.exists():
            continue
        for line in out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            # Frames look like "function (path/to/file.py:line)"; normalise to "path:function".
            frames = [f"{f[f.find('(') + 1 :].rsplit(':', 1)[0]}:{f.split(' (')[0]}" for f in stack.split(";")]
            layer = next(
                (
                    label
                    for frame in reversed(frames)  # the innermost frame that belongs to a layer decides
                    for label, needles in PROFILE_LAYERS
                    if any(needle in frame for needle in needles)
                ),
                "other",
            )
            counts[layer] = counts.get(layer, 0) + int(n)
            total += int(n)
    if not total:
        return None
    return {"samples": total, "layers": {k: v / total for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}}


# ---------------------------------------------------------------------------------------- /proc

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def children_of(pid: int) -> list[int]:
    kids: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids.update(int(x) for x in (task / "children").read_text().split())
        return sorted(kids)
    except OSError:
        pass
    for entry in Path("/proc").iterdir():  # no CONFIG_PROC_CHILDREN: scan every process's ppid
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    kids.add(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return sorted(kids)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def worker_pids(serve_pid: int) -> list[int]:
    """uvicorn's workers: the supervisor's children, minus multiprocessing's resource tracker."""
    kids = [p for p in children_of(serve_pid) if "resource_tracker" not in cmdline(p)]
    spawned = [p for p in kids if "spawn_main" in cmdline(p)]
    return spawned or kids


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime (stat fields 14, 15)


def status_kb(pid: int, field: str) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, from /proc/stat), in seconds."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def cpu_sample(pids: list[int]) -> dict[int, float]:
    sample = {}
    for pid in pids:
        try:
            sample[pid] = cpu_seconds(pid)
        except OSError:
            sample[pid] = float("nan")
    return sample


# ------------------------------------------------------------------------------- raw RS256 signing


def _sign_loop(seconds: float, ready, start, results) -> None:  # runs in a child process
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048)
    header = {"alg": "RS256"}
    now = int(time.time())
    claims = {
        "iss": "http://127.0.0.1",
        "sub": "bench",
        "aud": "bench",
        "iat": now,
        "exp": now + 900,
        "jti": "0123456789abcdefghijkl",
        "client_id": "bench",
        "scope": "api:read",
    }
    for _ in range(50):  # warm up imports and caches
        jwt.encode(header, claims, key)
    ready.put(os.getpid())
    start.wait()
    count = 0
    began, cpu_began = time.perf_counter(), time.process_time()
    deadline = began + seconds
    while True:
        jwt.encode(header, claims, key)
        count += 1
        if count % 16 == 0 and time.perf_counter() >= deadline:
            break
    results.put((count, time.perf_counter() - began, time.process_time() - cpu_began))


def raw_signing_rate(processes: int, seconds: float) -> dict:
    ctx = multiprocessing.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_sign_loop, args=(seconds, ready, start, results), daemon=True) for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        start.set()
        rates, per_cpu_s, cpu_share = [], [], []
        for _ in procs:
            count, elapsed, cpu = results.get(timeout=seconds + 120)
            rates.append(count / elapsed)
            per_cpu_s.append(count / cpu if cpu > 0 else 0.0)
            cpu_share.append(cpu / elapsed)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    # Signatures per CPU-second do not depend on what else runs; the wall-clock rate does.
    return {
        "processes": processes,
        "seconds": seconds,
        "per_process": rates,
        "total": sum(rates),
        "per_cpu_second": sum(per_cpu_s) / len(per_cpu_s),
        "cpu_share": cpu_share,
    }


# --------------------------------------------------------------------------------- infrastructure


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def authserver_command() -> list[str]:
    script = Path(sys.executable).parent / "authserver"
    if script.exists():
        return [str(script)]
    found = shutil.which("authserver")
    return [found] if found else [sys.executable, "-m", "authserver"]


def http(
    method: str, url: str, *, body: bytes | None = None, headers: dict | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Database:
    """A throw-away PostgreSQL database, created and dropped through an existing one."""

    def __init__(self, admin_url: str) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self.name = "authserver_bench_" + secrets.token_hex(6)
        try:
            self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise HarnessError(f"BENCH_DATABASE_URL is not a usable SQLAlchemy URL: {exc}") from None
        if self.admin.dialect.name != "postgresql":
            raise HarnessError("BENCH_DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg://...)")
        url = sa.engine.make_url(admin_url).set(database=self.name)
        self.url = url.render_as_string(hide_password=False)
        self.created = False
        self.server_version = None

    def create(self) -> None:
        try:
            with self.admin.connect() as conn:
                self.server_version = conn.execute(self._sa.text("SHOW server_version")).scalar()
                conn.execute(self._sa.text(f'CREATE DATABASE "{self.name}"'))
        except self._sa.exc.SQLAlchemyError as exc:
            raise HarnessError(f"cannot create the benchmark database (BENCH_DATABASE_URL): {exc}") from None
        self.created = True

    def drop(self) -> None:
        if self.created:
            try:
                with self.admin.connect() as conn:
                    conn.execute(self._sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
                self.created = False
            except self._sa.exc.SQLAlchemyError as exc:
                log(f"warning: could not drop database {self.name}: {exc}")
        self.admin.dispose()


def check_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        raise HarnessError(f"cannot reach Redis at BENCH_REDIS_URL ({url}): {exc}") from None


def clean_redis(url: str, prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError as exc:
        log(f"warning: could not remove the benchmark's Redis keys ({prefix}*): {exc}")


class Server:
    def __init__(self, cmd: list[str], env: dict, log_path: Path) -> None:
        self.cmd = cmd
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        handle = self.log_path.open("wb")
        # Its own session: at the end, a straggler of this server's process group can be killed.
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                log("the server did not stop within 25 s of SIGTERM; killing it")
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the supervisor, and any worker it left
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        time.sleep(0.2)
        reap_orphans()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def become_subreaper() -> None:
    """Adopt the server's orphans (uvicorn's multiprocessing resource tracker) so they get reaped
    here even where PID 1 does not reap zombies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans() -> None:
    """Collect exited adopted processes (only after every child this harness waits for is done)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_cli(cmd: list[str], env: dict, what: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise HarnessError(f"{what} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def wait_healthy(server: Server, base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise HarnessError("the server exited during start-up:\n" + server.log_tail())
        try:
            status, _ = http("GET", base + "/healthz", timeout=1.0)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise HarnessError(f"GET /healthz did not answer 200 within {timeout:.0f} s:\n" + server.log_tail())


def serving_pids(server: Server, count: int) -> list[int]:
    assert server.proc is not None
    # With one worker uvicorn serves from its own process; with more, from a supervisor's children.
    return [server.proc.pid] if count == 1 else worker_pids(server.proc.pid)


def wait_workers(server: Server, count: int, timeout: float = 30.0) -> list[int]:
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    pids: list[int] = []
    while time.monotonic() < deadline:
        pids = serving_pids(server, count)
        if len(pids) >= count:
            return pids
        time.sleep(0.2)
    raise HarnessError(f"expected {count} uvicorn workers under pid {server.proc.pid}, found {pids}")


def wait_idle(server: Server, pids: list[int], timeout: float = 30.0) -> None:
    """Wait until no worker is still starting up: their CPU time stands still for half a second.

    /healthz answers as soon as one worker is up; a worker still importing when wrk opens its
    connections would get none of them (they are kept alive for the whole scenario).
    """
    deadline = time.monotonic() + timeout
    last = cpu_sample(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if not server.alive():
            raise HarnessError("the server exited during start-up:\n" + server.log_tail())
        now = cpu_sample(pids)
        if all(now[p] - last[p] < 0.02 for p in pids):
            return
        last = now
    log(f"warning: the workers did not settle within {timeout:.0f} s; measuring anyway")


def server_log_findings(path: Path) -> dict:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"errors": 0, "warnings": 0, "tracebacks": 0, "samples": []}
    errors = [ln for ln in lines if " ERROR " in ln or " CRITICAL " in ln]
    warnings = [ln for ln in lines if " WARNING " in ln]
    tracebacks = sum(1 for ln in lines if ln.startswith("Traceback"))
    samples = list(dict.fromkeys(ln[:300] for ln in errors + warnings))[:5]
    return {"errors": len(errors), "warnings": len(warnings), "tracebacks": tracebacks, "samples": samples}


# ----------------------------------------------------------------------------------- mixed scenario

DEFAULT_MIXED_WEIGHTS = "signin=1,refresh=5,client_credentials=4,introspect=10"
MIXED_REDIRECT_URI = "https://bench.example/cb"
MIXED_SCOPE = "openid profile email offline_access"
MIXED_USERNAME = "bench-user"
# Endpoint rows of the mixed report: (key in bench/mixed.py, label).
MIXED_ROWS = [
    ("authorize", "GET /authorize"),
    ("login:page", "GET /login (form)"),
    ("login", "POST /login (argon2)"),
    ("token:authorization_code", "token:authorization_code"),
    ("token:refresh_token", "token:refresh_token"),
    ("token:client_credentials", "token:client_credentials"),
    ("introspect", "introspect"),
]


def mixed_weights(raw: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in raw.replace(" ", "").split(","):
        name, _, value = part.partition("=")
        if name not in mixed.OPERATIONS:
            raise HarnessError(f"BENCH_MIXED_WEIGHTS: unknown operation {name!r} (use {', '.join(mixed.OPERATIONS)})")
        try:
            weights[name] = float(value)
        except ValueError:
            raise HarnessError(f"BENCH_MIXED_WEIGHTS: {part!r} is not name=number") from None
        if weights[name] < 0:
            raise HarnessError(f"BENCH_MIXED_WEIGHTS: {name} must not be negative")
    if not any(weights.values()):
        raise HarnessError("BENCH_MIXED_WEIGHTS: at least one weight must be positive")
    return {k: v for k, v in weights.items() if v > 0}


def argon2_cost(samples: int = 5) -> dict:
    """Wall and CPU milliseconds of one password verification with the server's own parameters."""
    from authserver.security import passwords

    password = secrets.token_urlsafe(18)
    stored = passwords.hash_password(password)
    walls, cpus = [], []
    for _ in range(samples):
        wall, cpu = time.perf_counter(), time.process_time()
        ok, _ = passwords.verify_password(password, stored)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert ok
    hasher = passwords._hasher  # only to print its parameters
    return {
        "wall_ms": sorted(walls)[len(walls) // 2],
        "cpu_ms": sorted(cpus)[len(cpus) // 2],
        "memory_kib": hasher.memory_cost,
        "time_cost": hasher.time_cost,
        "parallelism": hasher.parallelism,
    }


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def run_mixed(cfg: dict, processes: int, pids: list[int]) -> dict:
    """Start the load-generator processes, measure them, and sum up per endpoint."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=mixed.run_process, args=(cfg, i, ready, start, results), daemon=True)
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    measured = False
    try:
        failed = []
        for _ in procs:
            try:
                kind, _pid, detail = ready.get(timeout=cfg["warmup"] + 180)
            except queue.Empty:
                raise HarnessError("the mixed-scenario load generators did not get ready") from None
            if kind != "ready":
                failed.extend(detail or [])
        crashes = [f["crash"] for f in failed if "crash" in f]
        if crashes:
            raise HarnessError("the mixed-scenario load generator crashed:\n" + crashes[0])
        if failed:  # nothing to measure; the finally block stops the processes that are ready
            return {
                "error": "the first sign-in failed, so the mixed scenario did not run: "
                + "; ".join(dict.fromkeys(f.get("prime_error", "?") for f in failed))
            }
        before, busy_before = cpu_sample(pids), machine_busy_seconds()
        start.set()
        parts = []
        for _ in procs:
            try:
                parts.append(results.get(timeout=cfg["duration"] + 120))
            except queue.Empty:
                raise HarnessError("the mixed-scenario load generators did not report") from None
        after, busy_after = cpu_sample(pids), machine_busy_seconds()
        measured = True
    finally:
        for proc in procs:
            proc.join(timeout=15 if measured else 0.1)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
    crashes = [c for p in parts for c in p["crashes"]]
    if crashes:
        raise HarnessError("a mixed-scenario load-generator thread failed:\n" + crashes[0])

    window = max(p["elapsed_s"] for p in parts)
    used = {pid: after[pid] - before[pid] for pid in pids}
    total_cpu = sum(used.values())
    generator_cpu = sum(p["cpu_s"] for p in parts)
    endpoints: dict[str, dict] = {}
    requests = 0
    for name in [*list(mixed.ENDPOINTS), "signin"]:
        lat = sorted(x for p in parts for x in p["latencies_ms"][name])
        errors: dict[str, int] = {}
        samples: list[str] = []
        for p in parts:
            for kind, n in p["errors"][name].items():
                errors[kind] = errors.get(kind, 0) + n
            samples.extend(s for s in p["samples"][name] if s not in samples)
        # A transport failure has no latency; every other attempt is in `lat`.
        count = len(lat) + errors.get("transport", 0) if name != "signin" else len(lat) + sum(errors.values())
        if name != "signin":
            requests += count
        endpoints[name] = {
            "count": count,
            "errors": sum(errors.values()),
            "error_kinds": errors,
            "error_samples": samples[:5],
            "rps": count / window if window > 0 else None,
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "avg_ms": sum(lat) / len(lat) if lat else None,
            "max_ms": lat[-1] if lat else None,
        }
    ops: dict[str, int] = {}
    for p in parts:
        for op, n in p["ops"].items():
            ops[op] = ops.get(op, 0) + n
    return {
        "seconds": window,
        "requests": requests,
        "rps": requests / window if window > 0 else None,
        "operations": ops,
        "endpoints": endpoints,
        "cpu_s": total_cpu,
        "generator_cpu_s": generator_cpu,
        "other_cpu_s": max(0.0, busy_after - busy_before - total_cpu - generator_cpu),
        "cpu_by_worker_s": {str(p): v for p, v in used.items()},
        "cpu_share": {str(p): (v / total_cpu if total_cpu > 0 else 0.0) for p, v in used.items()},
        "cpu_ms_per_req": total_cpu * 1000 / requests if requests else None,
    }


def worker_memory(pids: list[int]) -> list[dict]:
    rows = []
    for pid in pids:
        try:
            rss, hwm = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
        except OSError:
            rss = hwm = None
        rows.append(
            {
                "pid": pid,
                "rss_mb": None if rss is None else rss / 1024,
                "peak_rss_mb": None if hwm is None else hwm / 1024,
            }
        )
    return rows


# ----------------------------------------------------------------------------------------- report


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def build_targets(report: dict) -> list[dict]:
    sc = report["scenarios"]
    raw = report["raw_rs256"]["total"]
    token_rps = sc["token"]["rps"]
    ratio = token_rps / raw if raw else None
    report["token_to_raw_ratio"] = ratio
    # The same comparison in CPU time: what the ratio would be with no wrk and nothing else running.
    token_ms = sc["token"].get("cpu_ms_per_req")
    per_cpu = report["raw_rs256"]["per_cpu_second"]
    report["token_cpu_ratio"] = (1000 / per_cpu) / token_ms if per_cpu and token_ms else None
    rss = [w["rss_mb"] for w in report["workers"] if w.get("rss_mb") is not None]
    max_rss = max(rss) if rss else None
    max_peak = max((w["peak_rss_mb"] or 0.0) for w in report["workers"]) if report["workers"] else 0.0

    def row(name: str, figure: float | None, text: str, goal: str, met: bool | None) -> dict:
        return {"target": name, "figure": figure, "figure_text": text, "goal": goal, "met": met}

    fixed_ms = sc["trivial"].get("cpu_ms_per_req") if "trivial" in sc else None
    return [
        row(
            "fixed CPU per request (GET /healthz)",
            fixed_ms,
            "-" if fixed_ms is None else f"{fixed_ms * 1000:.0f} us",
            f"<= {TARGET_FIXED_US:g} us",
            None if fixed_ms is None else fixed_ms * 1000 <= TARGET_FIXED_US,
        ),
        row(
            "token req/s vs raw 2-process RS256",
            ratio,
            "-" if ratio is None else f"{ratio:.0%} ({token_rps:,.0f} / {raw:,.0f})",
            ">= 50%",
            None if ratio is None else ratio >= TARGET_TOKEN_RATIO,
        ),
        row(
            "token p99 latency @ 8 connections",
            sc["token"]["p99_ms"],
            f"{sc['token']['p99_ms']:.2f} ms",
            f"<= {TARGET_TOKEN_P99_MS:g} ms",
            sc["token"]["p99_ms"] <= TARGET_TOKEN_P99_MS,
        ),
        row(
            "introspection req/s",
            sc["introspect"]["rps"],
            fmt_rate(sc["introspect"]["rps"]),
            f">= {TARGET_INTROSPECT_RPS:,}",
            sc["introspect"]["rps"] >= TARGET_INTROSPECT_RPS,
        ),
        row(
            "JWKS req/s",
            sc["jwks"]["rps"],
            fmt_rate(sc["jwks"]["rps"]),
            f">= {TARGET_STATIC_RPS:,}",
            sc["jwks"]["rps"] >= TARGET_STATIC_RPS,
        ),
        row(
            "discovery req/s",
            sc["discovery"]["rps"],
            fmt_rate(sc["discovery"]["rps"]),
            f">= {TARGET_STATIC_RPS:,}",
            sc["discovery"]["rps"] >= TARGET_STATIC_RPS,
        ),
        row(
            "RSS per worker (largest)",
            max_rss,
            "-" if max_rss is None else f"{max_rss:.1f} MB (peak {max_peak:.1f})",
            f"<= {TARGET_RSS_MB:g} MB",
            None if max_rss is None else max_rss <= TARGET_RSS_MB,
        ),
    ]


def findings(report: dict) -> list[str]:
    """Things that look wrong in the server, beyond missed targets."""
    found = []
    for name, s in report["scenarios"].items():
        if s["flagged"]:
            parts = [f"{s['non_2xx_3xx']} non-2xx/3xx responses"] if s["non_2xx_3xx"] else []
            for kind, n in s["socket_errors"].items():
                if n:
                    parts.append(
                        f"{n} timeouts (no answer within wrk's 2 s)"
                        if kind == "timeout"
                        else f"{n} socket {kind} errors"
                    )
            sample = f"; a request now answers {s['error_sample']}" if s.get("error_sample") else ""
            found.append(f"{name}: {', '.join(parts)}{sample}")
        shares = s.get("cpu_share") or {}
        if len(shares) > 1 and min(shares.values()) < UNEVEN_SHARE:
            text = " / ".join(f"{v:.0%}" for v in shares.values())
            found.append(f"{name}: the workers did not share the load ({text} of the CPU time)")
    peaks = [w["peak_rss_mb"] for w in report["workers"] if w.get("peak_rss_mb") is not None]
    if peaks and max(peaks) > TARGET_RSS_MB:
        found.append(
            f"a worker's peak RSS (VmHWM) reached {max(peaks):.1f} MB, above the "
            f"{TARGET_RSS_MB:g} MB target, though its RSS is now lower"
        )
    if report.get("worker_restarts"):
        found.append(f"worker pids changed during the run (a worker died): {report['worker_restarts']}")
    found.extend(mixed_findings(report.get("mixed")))
    logf = report["server_log"]
    if logf["errors"] or logf["tracebacks"]:
        found.append(f"server log: {logf['errors']} error lines, {logf['tracebacks']} tracebacks")
    return found


def mixed_findings(m: dict | None) -> list[str]:
    if not m:
        return []
    if m.get("error"):
        return [f"mixed: {m['error']}"]
    found = []
    for key, label in MIXED_ROWS:
        e = m["endpoints"][key]
        if e["errors"]:
            kinds = ", ".join(f"{n} {k}" for k, n in e["error_kinds"].items())
            sample = f"; e.g. {e['error_samples'][0]}" if e["error_samples"] else ""
            found.append(f"mixed {label}: {e['errors']} of {e['count']} failed ({kinds}){sample}")
    shares = m.get("cpu_share") or {}
    if len(shares) > 1 and min(shares.values()) < UNEVEN_SHARE:
        text = " / ".join(f"{v:.0%}" for v in shares.values())
        found.append(f"mixed: the workers did not share the load ({text} of the CPU time)")
    if m.get("worker_restarts"):
        found.append(f"worker pids changed during the mixed scenario (a worker died): {m['worker_restarts']}")
    peaks = [w["peak_rss_mb"] for w in m.get("workers", []) if w.get("peak_rss_mb") is not None]
    if peaks and max(peaks) > TARGET_RSS_MB:
        found.append(
            f"mixed: a worker's peak RSS (VmHWM) reached {max(peaks):.1f} MB, above the "
            f"{TARGET_RSS_MB:g} MB target: each login in progress holds argon2's 64 MiB, and "
            "nothing but the thread pool bounds how many run at once in one worker"
        )
    return found


def print_mixed(report: dict, out: list[str]) -> None:
    m = report.get("mixed")
    if not m:
        return
    out.append("")
    if m.get("error"):
        out.append(f"  mixed scenario: !! {m['error']}")
        return
    weights = " : ".join(f"{k} {v:g}" for k, v in m["weights"].items())
    out.append(
        f"  mixed scenario: {m['processes']} httpx processes x {m['threads']} threads for "
        f"{m['seconds']:.1f} s against {report['meta']['workers']} workers; weights {weights}"
    )
    ops = ", ".join(f"{k} {v:,}" for k, v in m["operations"].items())
    out.append(f"  operations: {ops}")
    head = f"  {'endpoint':<26}{'count':>8}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    out.append(head)
    out.append("  " + "-" * (len(head) - 2))

    def line(label: str, e: dict) -> str:
        errors = f"!! {e['errors']}" if e["errors"] else "0"
        rps = "-" if e["rps"] is None else f"{e['rps']:,.1f}"
        return (
            f"  {label:<26}{e['count']:>8,}{errors:>8}{rps:>9}{fmt_ms(e['p50_ms']):>9}"
            f"{fmt_ms(e['p99_ms']):>9}{fmt_ms(e['max_ms']):>9}"
        )

    for key, label in MIXED_ROWS:
        out.append(line(label, m["endpoints"][key]))
    out.append("  " + "-" * (len(head) - 2))
    errors = sum(m["endpoints"][k]["errors"] for k, _ in MIXED_ROWS)
    rps = "-" if m["rps"] is None else f"{m['rps']:,.1f}"
    out.append(f"  {'all requests':<26}{m['requests']:>8,}{errors if not errors else f'!! {errors}':>8}{rps:>9}")
    out.append(line("complete sign-in (4 req)", m["endpoints"]["signin"]))
    argon = report.get("argon2")
    cost = (
        (
            f"{argon['cpu_ms']:.0f} ms of CPU ({argon['wall_ms']:.0f} ms wall) per verification measured here, "
            f"argon2id m={argon['memory_kib'] // 1024} MiB t={argon['time_cost']} p={argon['parallelism']}"
        )
        if argon
        else "argon2id"
    )
    out.append(
        f"  note: POST /login verifies the password with argon2 ({cost}); that deliberate cost "
        "(~50-100 ms per login on an idle machine, memory-hard against guessing) dominates the login latency and the "
        "sign-in rate, and logins queue behind each other for CPU: by design, not a bug"
    )
    logins = m["endpoints"]["login"]["count"] - m["endpoints"]["login"]["errors"]  # verified passwords
    if argon and logins and m["cpu_s"] > 0:
        spent = logins * argon["cpu_ms"] / 1000
        out.append(
            f"  {logins} logins x {argon['cpu_ms']:.0f} ms is ~{spent:.1f} of the workers' {m['cpu_s']:.1f} CPU-s "
            f"(~{min(1.0, spent / m['cpu_s']):.0%}); it also slows the other endpoints, which share the CPUs"
        )
    shares = m.get("cpu_share") or {}
    if shares:
        text = " / ".join(f"{v:.0%}" for v in shares.values())
        flag = "  !! uneven" if min(shares.values()) < UNEVEN_SHARE else ""
        cpus = report["meta"]["cpus"]
        out.append(
            f"  CPU split during mixed: {text} (CPU-s: workers {m['cpu_s']:.1f}, load generator "
            f"{m['generator_cpu_s']:.1f}, rest {m['other_cpu_s']:.1f}; {m['seconds']:.0f} s x {cpus} CPUs; "
            f"workers' cpu ms/req {m['cpu_ms_per_req']:.3f}){flag}"
        )
        if m["other_cpu_s"] + m["generator_cpu_s"] > 0.5 * m["seconds"] * (cpus or 1):
            out.append(
                "  !! the load generator and other programs took a large share of the CPU: the figures are noisy"
            )
    rss = ", ".join(
        f"pid {w['pid']} {w['rss_mb'] or 0:.1f} MB (peak {w['peak_rss_mb'] or 0:.1f})" for w in m.get("workers", [])
    )
    out.append(f"  worker RSS after mixed: {rss}")
    if m.get("worker_restarts"):
        out.append(f"  !! worker pids changed during the mixed scenario: {m['worker_restarts']}")


def layer_costs(report: dict) -> list[str]:
    """CPU per request, layer on layer: what each step of a token request adds (so a regression shows
    where it is). 'Token without signing' is the token request minus one raw signature."""
    sc = report["scenarios"]
    raw = report["raw_rs256"]
    sign_ms = 1000 / raw["per_cpu_second"] if raw.get("per_cpu_second") else None

    def cpu(name: str) -> float | None:
        return sc.get(name, {}).get("cpu_ms_per_req")

    rows = [
        ("trivial route (GET /healthz): ASGI server, middleware, routing, metrics, access log", cpu("trivial")),
        ("JWKS (pre-serialized bytes with ETag)", cpu("jwks")),
        (
            "token without signing (token - one raw signature)",
            None if not (cpu("token") and sign_ms) else cpu("token") - sign_ms,
        ),
        ("one raw RS256 signature (same run)", sign_ms),
        ("token (client_credentials)", cpu("token")),
        ("introspection (our JWT: verify + one Redis read)", cpu("introspect")),
    ]
    out = ["", "  CPU per request by layer (workers' CPU time / requests)"]
    for label, value in rows:
        out.append(f"    {label:<86}{'-' if value is None else f'{value * 1000:7.0f} us'}")
    return out


def print_report(report: dict) -> None:
    meta = report["meta"]
    out = []
    out.append("")
    out.append(f"authserver benchmark  {meta['started_at']}  commit {meta.get('commit') or '?'}")
    out.append(
        f"  {meta['workers']} uvicorn workers on PostgreSQL {meta.get('postgres') or '?'} + Redis; "
        f"wrk -t{meta['threads']} -c{meta['connections']}, {meta['duration_s']:g} s per scenario "
        f"after {meta['warmup_s']:g} s warm-up; {meta['cpus']} CPUs shared by wrk and the server"
    )
    if meta.get("rate_limits", "").startswith("raised"):
        out.append(
            f"  rate limits {meta['rate_limits']} so they do not answer the load with 429 (the limiter "
            "still counts each request in Redis); BENCH_KEEP_RATE_LIMITS=1 keeps the defaults"
        )
    out.append("")
    head = f"  {'scenario':<14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'avg ms':>9}{'cpu ms/req':>12}  {'errors':<24}"
    out.append(head)
    out.append("  " + "-" * (len(head) - 2))
    for name, s in report["scenarios"].items():
        sock = sum(s["socket_errors"].values())
        if s["non_2xx_3xx"] or sock:
            parts = []
            if s["non_2xx_3xx"]:
                parts.append(f"{s['non_2xx_3xx']} non-2xx")
            if sock:
                parts.append(f"{sock} socket")
            errors = "!! " + ", ".join(parts)
        else:
            errors = "0"
        cpu = "-" if s.get("cpu_ms_per_req") is None else f"{s['cpu_ms_per_req']:.3f}"
        out.append(
            f"  {name:<14}{fmt_rate(s['rps']):>10}{fmt_ms(s['p50_ms']):>9}{fmt_ms(s['p99_ms']):>9}"
            f"{fmt_ms(s['latency_avg_ms']):>9}{cpu:>12}  {errors:<24}"
        )
    out.append("  (cpu ms/req: CPU time of all workers during the scenario / requests served)")
    busiest = max(report["scenarios"].values(), key=lambda s: s["other_cpu_s"] / max(s["seconds"] or 1, 1))
    if busiest["other_cpu_s"] > 0.25 * (busiest["seconds"] or 0) * (report["meta"]["cpus"] or 1):
        out.append(
            "  !! other programs took a large share of the CPU during the run (see 'rest' below): the figures are noisy"
        )
    out.append("")
    out.append("  workers")
    token_share = report["scenarios"]["token"].get("cpu_share", {})
    for w in report["workers"]:
        share = token_share.get(str(w["pid"]))
        rss = "-" if w["rss_mb"] is None else f"{w['rss_mb']:6.1f}"
        peak = "-" if w["peak_rss_mb"] is None else f"{w['peak_rss_mb']:6.1f}"
        out.append(
            f"    pid {w['pid']:<8} RSS {rss} MB (peak {peak} MB)   "
            f"share of token-scenario CPU {'-' if share is None else f'{share:.0%}'}"
        )
    for name, s in report["scenarios"].items():
        shares = s.get("cpu_share") or {}
        if shares:
            text = " / ".join(f"{v:.0%}" for v in shares.values())
            flag = "  !! uneven" if min(shares.values()) < UNEVEN_SHARE else ""
            out.append(
                f"    CPU split during {name:<11} {text:<10} (CPU-s: workers {s['cpu_s']:.1f}, "
                f"wrk {s['wrk_cpu_s']:.1f}, rest {s['other_cpu_s']:.1f}; "
                f"{s['seconds']:.0f} s x {report['meta']['cpus']} CPUs){flag}"
            )
    if report.get("worker_restarts"):
        out.append(f"    !! worker pids changed during the run (a worker died): {report['worker_restarts']}")
    out.append("")
    raw = report["raw_rs256"]
    per = " + ".join(f"{r:,.0f}" for r in raw["per_process"])
    out.append(
        f"  raw RS256 signing (joserfc, 2048-bit, {raw['processes']} processes, "
        f"{raw['seconds']:g} s): {raw['total']:,.0f}/s ({per})"
    )
    if min(raw["cpu_share"]) < 0.9:
        out.append(
            f"  !! the signing processes got only {min(raw['cpu_share']):.0%} of a CPU each: "
            "other programs were running, the raw rate is low"
        )
    ratio = report.get("token_to_raw_ratio")
    out.append(f"  token endpoint / raw signing: {'-' if ratio is None else f'{ratio:.1%}'}")
    sign_ms = 1000 / raw["per_cpu_second"] if raw["per_cpu_second"] else None
    token_ms = report["scenarios"]["token"].get("cpu_ms_per_req")
    if sign_ms and token_ms:
        out.append(
            f"  CPU per token request {token_ms:.3f} ms vs {sign_ms:.3f} ms per raw signature: "
            f"the ratio would be {sign_ms / token_ms:.0%} if the workers had every CPU to themselves"
        )
    out.extend(layer_costs(report))
    for name, s in report["scenarios"].items():
        prof = s.get("profile")
        if prof:
            shares = ", ".join(f"{k} {v:.0%}" for k, v in prof["layers"].items() if v >= 0.02)
            out.append(f"    py-spy, {name} ({prof['samples']} samples): {shares}")
    out.append("")
    out.append(f"  {'target':<38}{'figure':>28}  {'goal':<12}result")
    out.append("  " + "-" * 88)
    for t in report["targets"]:
        result = "-" if t["met"] is None else ("met" if t["met"] else "MISSED")
        out.append(f"  {t['target']:<38}{t['figure_text']:>28}  {t['goal']:<12}{result}")
    print_mixed(report, out)
    out.append("")
    logf = report["server_log"]
    if logf["errors"] or logf["warnings"] or logf["tracebacks"]:
        out.append(
            f"  !! server log: {logf['errors']} error, {logf['warnings']} warning lines, "
            f"{logf['tracebacks']} tracebacks (see {report['meta']['server_log']})"
        )
        for line in logf["samples"]:
            out.append(f"     {line}")
    else:
        out.append(f"  server log: no warnings or errors ({report['meta']['server_log']})")
    if report["findings"]:
        out.append("  findings:")
        out.extend(f"    !! {f}" for f in report["findings"])
    else:
        out.append("  findings: none (no errors, both workers busy, no restarts)")
    out.append(f"  JSON report: {report['meta']['json_path']}")
    print("\n".join(out), flush=True)


# ------------------------------------------------------------------------------------------- main

SCENARIOS = [
    # name, method, path, wrk script
    ("trivial", "GET", "/healthz", None),  # the fixed cost of any request: middleware, routing, metrics, log
    ("token", "POST", "/token", "token.lua"),
    ("introspect", "POST", "/introspect", "introspect.lua"),
    ("jwks", "GET", "/jwks.json", None),
    ("discovery", "GET", "/.well-known/openid-configuration", None),
]


# The server's rate limits (per client on /token and /introspect, per IP and per account on /login)
# would answer most of the load with 429: every request comes from one IP, one user and two clients.
# The benchmark raises them out of reach; the limiter still counts every request in Redis, so its cost
# stays in the figures. BENCH_KEEP_RATE_LIMITS=1 keeps the server's defaults.
RAISED_RATE_LIMIT = "1000000/minute"


def rate_limit_env() -> dict[str, str]:
    try:
        from authserver.ratelimit import LIMITS
    except ImportError:  # a server without rate limits
        return {}
    raised = {f"AUTHSERVER_RATE_LIMIT_{name.upper()}": RAISED_RATE_LIMIT for name in LIMITS}
    # The guess throttle reserves an attempt before each password check: 8 simultaneous sign-ins of the
    # one bench user from one address would otherwise hold more reservations than the (account,
    # address) limit of 5 and be refused although their passwords are right.
    raised.update(
        {
            "AUTHSERVER_LOGIN_MAX_FAILURES": "100",
            "AUTHSERVER_LOGIN_ACCOUNT_MAX_FAILURES": "100000",
            "AUTHSERVER_LOGIN_IP_MAX_FAILURES": "10000",
        }
    )
    return raised


def server_env(
    db_url: str, redis_url: str, prefix: str, issuer: str, keys_dir: str, extra: dict[str, str] | None = None
) -> dict:
    # Nothing from the caller's AUTHSERVER_* environment (the Makefile exports an issuer) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    alphabet = string.ascii_letters + string.digits
    env.update(
        {
            "AUTHSERVER_ENV": "development",
            "AUTHSERVER_ISSUER": issuer,
            "AUTHSERVER_DATABASE_URL": db_url,
            "AUTHSERVER_REDIS_URL": redis_url,
            "AUTHSERVER_CACHE_PREFIX": prefix,
            "AUTHSERVER_SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(48)),
            # Production defaults: JSON logs at info, the access log on (successful API calls sampled).
            "AUTHSERVER_LOG_LEVEL": "info",
            "AUTHSERVER_KEYS_DIR": keys_dir,
            **(extra or {}),
        }
    )
    return env


def wrk_version(wrk: str) -> str | None:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    lines = (out.stdout + out.stderr).splitlines()
    return lines[0].strip() if lines else None


def git_commit() -> str | None:
    """The commit, with "+dirty" when the working tree has uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return (head + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.TimeoutExpired):
        return None


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
