"""The authserver under test: a throw-away database and cache prefix, its settings, its log."""

from __future__ import annotations

import os
import secrets
import shutil
import string
import sys
from pathlib import Path

from harness import HarnessError, log

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


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


def authserver_command() -> list[str]:
    script = Path(sys.executable).parent / "authserver"
    if script.exists():
        return [str(script)]
    found = shutil.which("authserver")
    return [found] if found else [sys.executable, "-m", "authserver"]


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
