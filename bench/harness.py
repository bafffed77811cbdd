"""The harness's tools: wrk runs, processes and their CPU and memory, the raw RS256 rate, HTTP."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


ROOT = BENCH_DIR.parent


RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"  # all traffic stays on loopback


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def http(
    method: str, url: str, *, body: bytes | None = None, headers: dict | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


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


def wait_healthy(server: Server, base: str, timeout: float = 60.0, path: str = "/healthz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise HarnessError("the server exited during start-up:\n" + server.log_tail())
        try:
            status, _ = http("GET", base + path, timeout=1.0)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise HarnessError(f"GET {path} did not answer 200 within {timeout:.0f} s:\n" + server.log_tail())


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
