"""Prometheus metrics. Labels are route templates, methods, status codes, grant types, limit names
and registered client ids — never tokens, codes or any string a caller can invent.

With several workers, authserver/workers.py points PROMETHEUS_MULTIPROC_DIR at a shared directory so
/metrics on any worker reports the sum over all of them.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

_access = logging.getLogger("authserver.access")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("authserver_http_requests", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "authserver_http_request_duration_seconds",
            "Request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("authserver_tokens_issued", "Tokens issued", ["grant_type", "client_id"], registry=r)
        self.logins = Counter("authserver_logins", "Password sign-in attempts", ["result"], registry=r)
        self.mfa_failures = Counter("authserver_mfa_failures", "Wrong second-factor codes", registry=r)
        self.rate_limited = Counter(
            "authserver_rate_limited", "Requests refused by a rate limit", ["limit"], registry=r
        )
        self._pool_sources: list[Callable[[], tuple[int, int, int]]] = []
        # Labelled children, looked up once: prometheus_client's labels() takes a lock on every call.
        self._issued: dict[tuple[str, str], Counter] = {}

    def token_issued(self, grant_type: str, client_id: str) -> None:
        child = self._issued.get((grant_type, client_id))
        if child is None:
            child = self._issued[(grant_type, client_id)] = self.tokens.labels(grant_type, client_id)
        child.inc()

    def watch_pool(self, describe: Callable[[], tuple[int, int, int]]) -> None:
        """`describe()` returns the database pool's (size, checked_out, overflow)."""
        self._pool_sources.append(describe)

    def _pool_families(self) -> list[GaugeMetricFamily]:
        families = []
        for name, index, text in (
            ("size", 0, "Pool size"),
            ("checked_out", 1, "Connections in use"),
            ("overflow", 2, "Connections beyond the pool size"),
        ):
            family = GaugeMetricFamily(f"authserver_db_pool_{name}", f"{text} (this worker)", labels=["pid"])
            for describe in self._pool_sources:
                family.add_metric([str(os.getpid())], describe()[index])
            families.append(family)
        return families

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
            body = generate_latest(registry)
        else:
            body = generate_latest(self.registry)
        pool = CollectorRegistry()
        pool.register(_Static(self._pool_families()))
        return body + generate_latest(pool), CONTENT_TYPE_LATEST


class _Static:
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self.families


# Routes whose successful requests are machine-to-machine API calls: their access log is sampled.
API_ROUTES = frozenset(
    {
        "/token",
        "/introspect",
        "/revoke",
        "/userinfo",
        "/device_authorization",
        "/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/*",
    }
)


class RequestMetrics:
    """Counts and times every request by route template (unknown paths share one label), and writes
    the access log line: method, route and status — never the query string, which can carry codes.
    The edge middleware (web/middleware.py) calls `observe` once per request it passed on.

    Successful API calls are logged with probability `sample_rate` (a JSON log line costs more CPU
    than many of the requests it describes); errors and page requests are always logged."""

    def __init__(self, *, metrics: Metrics, routes: frozenset[str], access_log: bool, sample_rate: float = 1.0) -> None:
        self.metrics = metrics
        self.routes = routes
        self.access_log = access_log
        self.sample_rate = sample_rate
        # The labelled children, looked up once: prometheus_client's labels() takes a lock each call.
        self._counters: dict[tuple[str, str, int], object] = {}
        self._timers: dict[tuple[str, str], object] = {}

    def route_of(self, path: str) -> str:
        if path in self.routes:
            return path
        if path.startswith("/static/"):
            return "/static/*"
        return "unmatched"

    def _logged(self, route: str, status: int) -> bool:
        if not self.access_log:
            return False
        if status >= 400 or route not in API_ROUTES or self.sample_rate >= 1.0:
            return True
        return random.random() < self.sample_rate  # noqa: S311 - sampling, not security

    def observe(self, path: str, method: str, status: int, elapsed: float) -> None:
        route = self.route_of(path)
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = self._counters[(route, method, status)] = self.metrics.requests.labels(route, method, str(status))
        counter.inc()  # type: ignore[attr-defined]
        timer = self._timers.get((route, method))
        if timer is None:
            timer = self._timers[(route, method)] = self.metrics.latency.labels(route, method)
        timer.observe(elapsed)  # type: ignore[attr-defined]
        if self._logged(route, status) and _access.isEnabledFor(logging.INFO):
            fields = {"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 2)}
            if status < 400 and route in API_ROUTES and self.sample_rate < 1.0:
                fields["sample_rate"] = self.sample_rate
            _access.info("request", extra=fields)
