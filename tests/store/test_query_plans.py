"""The hot queries use indexes (PostgreSQL EXPLAIN): every statement that sign-in, code exchange,
refresh, introspection, userinfo, revocation, logout, the account page, `user list`, `audit list` and
the purge run against a database with tens of thousands of rows is explained with its own
parameters, and a sequential scan of a large table fails the test.

The statements are the ones the code actually sends (captured from SQLAlchemy), so a new query that
forgets its index is caught without listing it here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.helpers import basic, exchange, sign_in

pytestmark = [pytest.mark.skipif(not PG_URL, reason="query plans are checked on PostgreSQL"), pytest.mark.slow]

REDIRECT = "https://app.example/cb"
BYE = "https://app.example/bye"
N = 20_000
LARGE_ROWS = 1_000  # a sequential scan of a table this big fails; small ones (clients, keys) may be scanned


def seed(conn: sa.Connection, client_id: str) -> None:
    """N rows in each large table, spread over time, a share of them expired (generate_series: fast)."""
    now = int(time.time())
    params = {"n": N, "now": now, "client": client_id}
    statements = [
        """INSERT INTO users (id, username, email, name, password_hash, email_verified, disabled, created_at)
           SELECT 'seed-' || i, 'seed' || i, 'seed' || i || '@example.com', '', 'x', false, false, :now - i
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, sid, offline, auth_time,
               amr, acr, resources, created_at, expires_at, idle_expires_at)
           SELECT md5('rt' || i), md5('g' || (i / 2)), :client, 'seed-' || (i % :n + 1), 'openid', md5('s' || i),
               i % 3 = 0, :now, '["pwd"]', '1', '[]', :now - i, :now - 5000 + i, :now - 10000 + 2 * i
           FROM generate_series(1, :n * 2) AS i""",
        """INSERT INTO browser_sessions (id_hash, sid, user_id, auth_time, amr, acr, created_at, last_seen_at,
               expires_at)
           SELECT md5('bs' || i), md5('s' || i), 'seed-' || i, :now, '["pwd"]', '1', :now - i, :now - i,
               :now - 5000 + i
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO auth_codes (code_hash, grant_id, client_id, user_id, redirect_uri, scope, auth_time, amr,
               acr, sid, resources, created_at, expires_at, used_at)
           SELECT md5('ac' || i), md5('g' || i), :client, 'seed-' || i, 'https://app.example/cb', 'openid', :now,
               '["pwd"]', '1', md5('s' || i), '[]', :now - i, :now - i + 60, :now - i + 1
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO audit_events (ts, event, user_id, data)
           SELECT :now - i * 60, 'login.succeeded', 'seed-' || (i % :n + 1), '{}'
           FROM generate_series(1, :n * 2) AS i""",
        """INSERT INTO device_codes (device_code_hash, user_code, client_id, scope, resources, status, interval,
               created_at, expires_at)
           SELECT md5('dc' || i), upper(substr(md5('uc' || i), 1, 8)), :client, 'openid', '[]', 'pending', 5,
               :now - i, :now - i + 600
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO consents (user_id, client_id, scopes, created_at, updated_at)
           SELECT 'seed-' || i, :client, '["openid"]', :now, :now FROM generate_series(1, :n) AS i""",
        """INSERT INTO account_links (token_hash, user_id, purpose, email, created_at, expires_at)
           SELECT md5('al' || i), 'seed-' || i, 'verify', 'seed' || i || '@example.com', :now - i, :now - i + 3600
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO totp_factors (user_id, secret_enc, created_at, confirmed_at)
           SELECT 'seed-' || i, 'x', :now - i, :now - i FROM generate_series(1, :n) AS i""",
        """INSERT INTO backup_codes (code_hash, user_id, created_at)
           SELECT md5('bc' || i), 'seed-' || (i % :n + 1), :now - i FROM generate_series(1, :n * 2) AS i""",
        """INSERT INTO outbox (id, kind, destination, summary, payload, status, attempts, next_attempt_at,
               created_at, sent_at)
           SELECT 'seed-' || i, 'email', 'seed' || i || '@example.com', '', '', 'sent', 1, :now - i, :now - i,
               :now - i
           FROM generate_series(1, :n) AS i""",
    ]
    for statement in statements:
        conn.execute(sa.text(statement), params)
    conn.execute(sa.text("ANALYZE"))


@pytest.fixture
def captured() -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        head = statement.lstrip().split(None, 1)[0].upper()
        if head in ("SELECT", "UPDATE", "DELETE") and not executemany and "pg_" not in statement:
            statements.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listen)
    yield statements
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", listen)


def scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield plan["Node Type"], plan.get("Relation Name", "")
    for child in plan.get("Plans", []):
        yield from scans(child)


def test_hot_queries_use_indexes_on_large_tables(env, cli, register, alice, make_app, captured):
    client = register(
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        BYE,
        "--scope",
        "openid profile offline_access",
        "--first-party",
        name="app",
    )
    api = register(name="api")
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            seed(conn, client["client_id"])
        captured.clear()

        http = make_app()
        callback, verifier, _ = sign_in(http, client, scope="openid profile offline_access")
        tokens = exchange(http, client, callback["code"], verifier).json()
        auth = basic(client["client_id"], client["client_secret"])
        refreshed = http.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, headers=auth
        ).json()
        api_auth = basic(api["client_id"], api["client_secret"])
        assert http.post("/introspect", data={"token": refreshed["access_token"]}, headers=auth).json()["active"]
        assert http.post("/introspect", data={"token": refreshed["access_token"]}, headers=api_auth).status_code == 200
        assert http.post("/introspect", data={"token": refreshed["refresh_token"]}, headers=auth).json()["active"]
        bearer = {"Authorization": "Bearer " + refreshed["access_token"]}
        assert http.get("/userinfo", headers=bearer).status_code == 200
        assert http.get("/account").status_code == 200
        # A replayed (rotated) refresh token revokes its grant: the grant_id lookups.
        http.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, headers=auth
        )
        assert http.post("/revoke", data={"token": refreshed["refresh_token"]}, headers=auth).status_code == 200
        logout = http.get(
            "/logout",
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE},
            follow_redirects=False,
        )
        assert logout.status_code in (200, 302, 303)
        assert cli("user", "list", "--limit", "50").code == 0
        assert cli("user", "list", "--limit", "50", "--after", "seed-100").code == 0
        assert cli("user", "show", "seed-7").code == 0
        assert cli("audit", "list", "--user", "seed-7", "--limit", "50").code == 0
        assert cli("audit", "list", "--since", "1h", "--limit", "50").code == 0
        assert cli("purge", "--dry-run").code == 0
        assert cli("purge").code == 0

        statements = list(captured)
        assert len(statements) > 30, "the flows ran no queries?"
        offenders = []
        with engine.connect() as conn:
            large = {
                name
                for name, rows in conn.execute(
                    sa.text(
                        "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                    )
                )
                if rows >= LARGE_ROWS
            }
            assert {"users", "refresh_tokens", "audit_events", "outbox"} <= large
            raw = conn.connection.dbapi_connection
            assert raw is not None
            for statement, parameters in statements:
                with raw.cursor() as cursor:
                    cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                    (plan,) = cursor.fetchone()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                seq = {rel for node, rel in scans(plan[0]["Plan"]) if node == "Seq Scan" and rel in large}
                if seq:
                    offenders.append(f"{sorted(seq)}: {' '.join(statement.split())[:300]}")
            raw.rollback()
        assert not offenders, "sequential scans of large tables:\n" + "\n".join(dict.fromkeys(offenders))
    finally:
        engine.dispose()
