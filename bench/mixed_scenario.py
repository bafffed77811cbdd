"""The mixed scenario (sign-ins, refreshes, client credentials, introspections) run from bench/mixed.py's
load generators in separate processes, and the cost of one argon2 verification beside it."""

from __future__ import annotations

import multiprocessing
import queue
import secrets
import time

import mixed
from harness import HarnessError, cpu_sample, machine_busy_seconds

DEFAULT_MIXED_WEIGHTS = "signin=1,refresh=5,client_credentials=4,introspect=10"


MIXED_REDIRECT_URI = "https://bench.example/cb"


MIXED_SCOPE = "openid profile email offline_access"


MIXED_USERNAME = "bench-user"


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
    from authserver.security.passwords import Passwords

    passwords = Passwords()  # the production cost (AUTHSERVER_ARGON2_COST=standard)

    password = secrets.token_urlsafe(18)
    stored = passwords.hash(password)
    walls, cpus = [], []
    for _ in range(samples):
        wall, cpu = time.perf_counter(), time.process_time()
        ok, _ = passwords.verify(password, stored)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert ok
    hasher = passwords.hasher  # only to print its parameters
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
