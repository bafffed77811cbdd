"""`make bench-scale`: does the cost of a request grow with the data? Measures each operation on an
almost empty PostgreSQL database, seeds a large data set (server-side generate_series, like COPY
without a round trip per row), and measures again; prints each latency with its ratio next to the
target (seeded <= 1.2 x empty).

Operations (sequential, one client, keep-alive, `serve --workers 1`): a full sign-in (authorize, login
page, login with argon2id, code), the code exchange, a refresh-token rotation, introspection of an
access token and of a refresh token, userinfo; and the two listing queries the CLI pages with
(`user list --after`, `audit list --user`), timed in this process through the store.

Environment (optional): BENCH_SCALE (1.0 = the issue's 1M users, 5M refresh tokens, 1M sessions,
10M audit events; 0.1 = a tenth), BENCH_SCALE_ROUNDS (200 requests per operation, sign-ins a tenth),
BENCH_DATABASE_URL, BENCH_REDIS_URL as for `make bench`. Writes bench/results/scale.json.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import deployment  # noqa: E402 - bench/'s modules, importable once its folder is on sys.path
import harness  # noqa: E402

TARGET_RATIO = 1.2
REDIRECT = "https://bench.example/cb"
SCOPE = "openid profile email offline_access"
USER_FLAGS = ("--password-stdin", "--json")
SIGNIN_CLIENT_FLAGS = (
    "--grant-type",
    "authorization_code",
    "--grant-type",
    "refresh_token",
    "--redirect-uri",
    REDIRECT,
    "--scope",
    SCOPE,
    "--first-party",
    "--json",
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Rows at BENCH_SCALE=1 (the figures).
SIZES = {"users": 1_000_000, "refresh_tokens": 5_000_000, "browser_sessions": 1_000_000, "audit_events": 10_000_000}


def seed_statements() -> list[str]:
    return [
        """INSERT INTO users (id, username, email, name, password_hash, email_verified, disabled, created_at)
           SELECT 'seed-' || i, 'seed' || i, 'seed' || i || '@example.com', '', 'x', false, false, :now - i
           FROM generate_series(1, :users) AS i""",
        """INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, sid, offline, auth_time,
               amr, acr, resources, created_at, expires_at, idle_expires_at)
           SELECT md5('rt' || i), md5('g' || (i / 3)), :client, 'seed-' || (i % :users + 1), 'openid',
               md5('s' || (i % :sessions)), i % 4 = 0, :now, '["pwd"]', '1', '[]', :now - i % 86400,
               :now + 86400 - i % 172800, :now + 86400 - i % 100000
           FROM generate_series(1, :refresh_tokens) AS i""",
        """INSERT INTO browser_sessions (id_hash, sid, user_id, auth_time, amr, acr, created_at, last_seen_at,
               expires_at)
           SELECT md5('bs' || i), md5('s' || i), 'seed-' || (i % :users + 1), :now, '["pwd"]', '1',
               :now - i % 86400, :now - i % 7200, :now + 43200 - i % 86400
           FROM generate_series(1, :sessions) AS i""",
        """INSERT INTO audit_events (ts, event, user_id, data)
           SELECT :now - i % (365 * 86400), 'login.succeeded', 'seed-' || (i % :users + 1), '{}'
           FROM generate_series(1, :audit) AS i""",
    ]


BASE_STATEMENTS = [
    """INSERT INTO users (id, username, email, name, password_hash, email_verified, disabled, created_at)
       SELECT 'base-' || i, 'base' || i, 'base' || i || '@example.com', '', 'x', false, false, :now - i
       FROM generate_series(1, 200) AS i""",
    """INSERT INTO audit_events (ts, event, user_id, data)
       SELECT :now - i * 60, 'login.succeeded', :user, '{}' FROM generate_series(1, 200) AS i""",
]


class Client:
    """One browser and one API client against the server, timing each call."""

    def __init__(self, base: str, cfg: dict) -> None:
        import httpx

        self.base = base
        self.cfg = cfg
        self.browser = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.api = httpx.Client(base_url=base, timeout=30)
        self.sign_in_auth = (cfg["signin_client_id"], cfg["signin_client_secret"])
        self.api_auth = (cfg["api_client_id"], cfg["api_client_secret"])
        self.tokens: dict = {}

    def close(self) -> None:
        self.browser.close()
        self.api.close()

    def code(self) -> tuple[str, str]:
        """A complete sign-in as a new browser; returns (code, verifier)."""
        self.browser.cookies.clear()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": self.cfg["signin_client_id"],
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        location = urljoin(self.base + "/", self.browser.get("/authorize?" + urlencode(query)).headers["location"])
        page = self.browser.get(location)
        form = {
            "csrf_token": _CSRF.search(page.text).group(1),  # type: ignore[union-attr]
            "interaction": parse_qs(urlsplit(location).query)["interaction"][0],
            "username": self.cfg["username"],
            "password": self.cfg["password"],
        }
        done = self.browser.post("/login", data=form)
        if done.status_code not in (302, 303):
            raise harness.HarnessError(f"sign-in answered {done.status_code}: {done.text[:200]}")
        return parse_qs(urlsplit(done.headers["location"]).query)["code"][0], verifier

    def exchange(self, code: str, verifier: str) -> None:
        data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
        response = self.api.post("/token", data=data, auth=self.sign_in_auth)
        if response.status_code != 200:
            raise harness.HarnessError(f"code exchange answered {response.status_code}: {response.text[:200]}")
        self.tokens = response.json()

    def refresh(self) -> None:
        data = {"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]}
        response = self.api.post("/token", data=data, auth=self.sign_in_auth)
        if response.status_code != 200:
            raise harness.HarnessError(f"refresh answered {response.status_code}: {response.text[:200]}")
        self.tokens = response.json()

    def introspect(self, kind: str) -> None:
        auth = self.api_auth if kind == "access_token" else self.sign_in_auth
        response = self.api.post("/introspect", data={"token": self.tokens[kind]}, auth=auth)
        if response.status_code != 200 or not response.json().get("active"):
            raise harness.HarnessError(f"introspection answered {response.status_code}: {response.text[:200]}")

    def userinfo(self) -> None:
        response = self.api.get("/userinfo", headers={"Authorization": "Bearer " + self.tokens["access_token"]})
        if response.status_code != 200:
            raise harness.HarnessError(f"userinfo answered {response.status_code}: {response.text[:200]}")


def timed(fn: Callable[[], object], rounds: int) -> dict:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p90_ms": samples[int(0.9 * (len(samples) - 1))], "n": rounds}


def measure(client: Client, store, user_id: str, rounds: int) -> dict:  # type: ignore[no-untyped-def]
    client.exchange(*client.code())  # warm-up, and the first tokens
    for _ in range(20):
        client.refresh()
        client.introspect("access_token")
    figures = {}
    figures["sign-in (authorize, login with argon2id, code)"] = timed(client.code, max(3, rounds // 10))
    pending = [client.code() for _ in range(max(3, rounds // 10))]
    figures["code exchange"] = timed(lambda: client.exchange(*pending.pop()), len(pending))
    figures["refresh (rotation)"] = timed(client.refresh, rounds)
    figures["introspection, access token"] = timed(lambda: client.introspect("access_token"), rounds)
    figures["introspection, refresh token"] = timed(lambda: client.introspect("refresh_token"), rounds)
    figures["userinfo"] = timed(client.userinfo, rounds)
    middle = store.list_users(limit=1, after=None)
    anchor = middle[0].id if middle else None
    figures["user list page (100, keyset)"] = timed(lambda: store.list_users(limit=100, after=anchor), rounds)
    figures["audit list page (one user, 100)"] = timed(
        lambda: store.list_audit_events(user_id=user_id, limit=100), rounds
    )
    return figures


def bench() -> dict:
    scale = harness.env_number("BENCH_SCALE", 1.0, minimum=0.0001)
    rounds = int(harness.env_number("BENCH_SCALE_ROUNDS", 200, minimum=10))
    admin_url = os.environ.get("BENCH_DATABASE_URL") or deployment.DEFAULT_DATABASE_URL
    redis_url = os.environ.get("BENCH_REDIS_URL") or deployment.DEFAULT_REDIS_URL
    sizes = {k: max(1, int(v * scale)) for k, v in SIZES.items()}
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    port = harness.free_port()
    base = f"http://{harness.HOST}:{port}"
    prefix = f"authserver-bench-scale-{secrets.token_hex(6)}:"
    cli = deployment.authserver_command()
    report: dict = {"meta": {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "scale": scale, "sizes": sizes}}
    deployment.check_redis(redis_url)
    db = deployment.Database(admin_url)
    server: harness.Server | None = None
    keys_dir = tempfile.mkdtemp(prefix="authserver-bench-keys-")
    try:
        db.create()
        env = deployment.server_env(db.url, redis_url, prefix, base, keys_dir, deployment.rate_limit_env())
        env["AUTHSERVER_PURGE_INTERVAL_SECONDS"] = "0"  # nothing may delete the seeded rows mid-measurement
        harness.run_cli([*cli, "migrate"], env, "authserver migrate")
        password = secrets.token_urlsafe(24)
        user = json.loads(
            harness.run_cli(
                [*cli, "user", "create", "--username", "scale-user", "--email", "scale@bench.example", *USER_FLAGS],
                env,
                "authserver user create",
                stdin=password + "\n",
            )
        )
        signin = json.loads(
            harness.run_cli(
                [*cli, "client", "create", "--name", "scale-signin", *SIGNIN_CLIENT_FLAGS],
                env,
                "authserver client create",
            )
        )
        api = json.loads(harness.run_cli([*cli, "client", "create", "--name", "scale-api", "--json"], env, "client"))
        cfg = {
            "username": "scale-user",
            "password": password,
            "signin_client_id": signin["client_id"],
            "signin_client_secret": signin["client_secret"],
            "api_client_id": api["client_id"],
            "api_client_secret": api["client_secret"],
        }
        server = harness.Server(
            [*cli, "serve", "--host", harness.HOST, "--port", str(port)], env, harness.RESULTS_DIR / "scale-server.log"
        )
        server.start()
        harness.wait_healthy(server, base)

        import sqlalchemy as sa

        from authserver.store.sql import SqlStore

        store = SqlStore.from_url(db.url, pool_size=2)
        client = Client(base, cfg)
        try:
            # "Almost empty": enough rows that a page of 100 is full in both runs.
            with store.db.engine.begin() as conn:
                for statement in BASE_STATEMENTS:
                    conn.execute(sa.text(statement), {"now": int(time.time()), "user": user["id"]})
            harness.log(f"measuring on an almost empty database ({rounds} rounds per operation)")
            report["empty"] = measure(client, store, user["id"], rounds)
            harness.log("seeding: " + ", ".join(f"{n:,} {t}" for t, n in sizes.items()))

            began = time.monotonic()
            params = {
                "now": int(time.time()),
                "client": signin["client_id"],
                "users": sizes["users"],
                "refresh_tokens": sizes["refresh_tokens"],
                "sessions": sizes["browser_sessions"],
                "audit": sizes["audit_events"],
            }
            with store.db.engine.begin() as conn:
                for statement in seed_statements():
                    conn.execute(sa.text(statement), params)
            with store.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
            report["seed_seconds"] = time.monotonic() - began
            harness.log(f"seeded in {report['seed_seconds']:.0f} s; measuring again")
            report["seeded"] = measure(client, store, user["id"], rounds)
        finally:
            client.close()
            store.close()
    finally:
        if server is not None:
            server.stop()
        db.drop()
        deployment.clean_redis(redis_url, prefix)
        shutil.rmtree(keys_dir, ignore_errors=True)
    report["rows"] = []
    for name, empty in report["empty"].items():
        seeded = report["seeded"][name]
        ratio = seeded["median_ms"] / empty["median_ms"] if empty["median_ms"] else None
        report["rows"].append({"operation": name, "empty": empty, "seeded": seeded, "ratio": ratio})
    (harness.RESULTS_DIR / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def print_report(report: dict) -> None:
    sizes = ", ".join(f"{n:,} {t}" for t, n in report["meta"]["sizes"].items())
    out = [
        "",
        f"authserver scale benchmark  {report['meta']['started_at']}  (BENCH_SCALE={report['meta']['scale']:g})",
        f"  seeded: {sizes} in {report['seed_seconds']:.0f} s",
        "  median (p90) latency, one client, serve --workers 1; target: seeded <= 1.2 x empty",
        "",
        f"  {'operation':<48}{'empty':>18}{'seeded':>18}{'ratio':>8}  result",
        "  " + "-" * 98,
    ]
    for row in report["rows"]:
        e, s, ratio = row["empty"], row["seeded"], row["ratio"]
        met = "-" if ratio is None else ("met" if ratio <= TARGET_RATIO else "MISSED")
        out.append(
            f"  {row['operation']:<48}{e['median_ms']:>8.2f} ({e['p90_ms']:6.2f}){s['median_ms']:>8.2f} ({s['p90_ms']:6.2f})"
            f"{'-' if ratio is None else f'{ratio:.2f}':>8}  {met}"
        )
    out.append(f"  JSON report: {harness.RESULTS_DIR.relative_to(harness.ROOT) / 'scale.json'}")
    print("\n".join(out), flush=True)


def main() -> int:
    harness.become_subreaper()
    try:
        report = bench()
    except harness.HarnessError as exc:
        harness.log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        harness.log("interrupted")
        return 130
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
