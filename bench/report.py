"""The report: the issue's targets next to the figures, findings, CPU per layer; printed and kept as JSON."""

from __future__ import annotations

# The targets.
TARGET_TOKEN_RATIO = 0.50  # token endpoint req/s >= 50% of the two-process raw RS256 signing rate


TARGET_INTROSPECT_RPS = 8_000


TARGET_STATIC_RPS = 20_000  # JWKS and discovery, on 2 workers


TARGET_FIXED_US = 60.0  # CPU of a trivial request through the full middleware stack (GET /healthz)


TARGET_TOKEN_P99_MS = 5.0


TARGET_RSS_MB = 120.0
TARGET_REFERENCE_RATIO = 1.2  # token req/s >= 1.2 x node-oidc-provider's, side by side in the same run


# Not a target from the issue: a worker doing less than this share of a scenario's work is flagged.
UNEVEN_SHARE = 0.25


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
    ref = (report.get("reference") or {}).get("scenarios", {}).get("token")
    ref_ratio = token_rps / ref["rps"] if ref and ref.get("rps") else None
    report["token_to_reference_ratio"] = ref_ratio
    reference_row = row(
        "token req/s vs node-oidc-provider",
        ref_ratio,
        ("skipped: " + str(report.get("reference", {}).get("skipped", "-")))[:28]
        if ref_ratio is None
        else f"{ref_ratio:.2f}x ({token_rps:,.0f} / {ref['rps']:,.0f})",
        f">= {TARGET_REFERENCE_RATIO:g}x",
        None if ref_ratio is None else ref_ratio >= TARGET_REFERENCE_RATIO,
    )
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
        reference_row,
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


def reference_table(report: dict) -> list[str]:
    """authserver and node-oidc-provider side by side: the same wrk settings, the same machine and run."""
    ref = report.get("reference") or {}
    if "scenarios" not in ref:
        return ["", f"  reference (node-oidc-provider): skipped ({ref.get('skipped', 'not run')})"]
    out = ["", f"  side by side with node-oidc-provider ({ref['processes']} processes, same wrk settings)"]
    out.append(f"    {'scenario':<12}{'authserver':>14}{'reference':>14}{'ratio':>9}   cpu ms/req (ours / ref)")
    for name, theirs in ref["scenarios"].items():
        ours = report["scenarios"].get(name, {})
        ratio = ours["rps"] / theirs["rps"] if ours.get("rps") and theirs.get("rps") else None
        cpu = f"{fmt_ms(ours.get('cpu_ms_per_req'))} / {fmt_ms(theirs.get('cpu_ms_per_req'))}"
        out.append(
            f"    {name:<12}{fmt_rate(ours.get('rps')):>14}{fmt_rate(theirs.get('rps')):>14}"
            f"{'-' if ratio is None else f'{ratio:.2f}x':>9}   {cpu}"
        )
    token = ref["scenarios"].get("token", {})
    ours_p99 = report["scenarios"].get("token", {}).get("p99_ms")
    out.append(f"    token p99: {fmt_ms(ours_p99)} ms (ours) vs {fmt_ms(token.get('p99_ms'))} ms (reference)")
    rss = sum(w["rss_mb"] or 0.0 for w in report.get("workers", []))
    out.append(f"    RSS, all workers: {rss:.0f} MB (ours) vs {ref['rss_mb']:.0f} MB (reference, all processes)")
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
    out.extend(reference_table(report))
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
