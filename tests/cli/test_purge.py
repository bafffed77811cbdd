"""`authserver purge` and the server's background purger: expired rows of every kind go, live ones
stay, in keyset batches, one purger at a time (a PostgreSQL advisory lock)."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from authserver.store.sql import tables
from tests.cli.checks import assert_error
from tests.conftest import PG_URL

DAY = 86400


@pytest.fixture
def db(env):  # type: ignore[no-untyped-def]
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"])
    yield engine
    engine.dispose()


@pytest.fixture
def owner(alice, register) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return alice["id"], register(name="app")["client_id"]


def _grant_row(kind: str, user_id: str, client_id: str, **times: int) -> dict:
    common = {"grant_id": uuid.uuid4().hex, "client_id": client_id, "user_id": user_id, "scope": "openid"}
    common.update({"sid": uuid.uuid4().hex, "auth_time": 0, "amr": ["pwd"], "acr": "1", "resources": []})
    if kind == "code":
        return {**common, "code_hash": uuid.uuid4().hex, "redirect_uri": "https://app.example/cb", **times}
    return {**common, "token_hash": uuid.uuid4().hex, "offline": False, **times}


def seed(db, user_id: str, client_id: str, *, expired: int, live: int, now: int) -> None:  # type: ignore[no-untyped-def]
    """`expired` rows of each kind past expiry + the one-day grace, `live` rows that must stay (some
    expired, but within the grace)."""
    old, recent, future = now - 2 * DAY, now - 3600, now + DAY
    rows: dict[sa.Table, list[dict]] = {t: [] for t in tables.metadata.sorted_tables}
    for n, when in [(expired, old), (live, recent)]:
        for _ in range(n):
            rows[tables.auth_codes].append(_grant_row("code", user_id, client_id, created_at=when, expires_at=when))
            # Refresh tokens: one dead by its absolute expiry, one by its idle expiry.
            rows[tables.refresh_tokens].append(
                _grant_row("token", user_id, client_id, created_at=when, expires_at=when, idle_expires_at=future)
            )
            rows[tables.refresh_tokens].append(
                _grant_row("token", user_id, client_id, created_at=when, expires_at=future, idle_expires_at=when)
            )
            session = {"user_id": user_id, "auth_time": when, "amr": ["pwd"], "acr": "1", "created_at": when}
            rows[tables.browser_sessions].append(
                {
                    **session,
                    "id_hash": uuid.uuid4().hex,
                    "sid": uuid.uuid4().hex,
                    "last_seen_at": now,
                    "expires_at": when,
                }
            )
            rows[tables.device_codes].append(
                {
                    "device_code_hash": uuid.uuid4().hex,
                    "user_code": uuid.uuid4().hex[:16],
                    "client_id": client_id,
                    "scope": "openid",
                    "resources": [],
                    "status": "pending",
                    "interval": 5,
                    "created_at": when,
                    "expires_at": when,
                }
            )
            rows[tables.account_links].append(
                {
                    "token_hash": uuid.uuid4().hex,
                    "user_id": user_id,
                    "purpose": "verify",
                    "email": "a@example.com",
                    "created_at": when,
                    "expires_at": when,
                }
            )
            rows[tables.registration_tokens].append(
                {"token_hash": uuid.uuid4().hex, "uses_left": 1, "created_at": when, "expires_at": when}
            )
    # Sessions idle for longer than session_idle_ttl (2 h) + the grace, though not past their absolute end.
    for n, seen in [(expired, now - 2 * DAY), (live, now - 3 * 3600)]:
        for _ in range(n):
            rows[tables.browser_sessions].append(
                {
                    "id_hash": uuid.uuid4().hex,
                    "sid": uuid.uuid4().hex,
                    "user_id": user_id,
                    "auth_time": seen,
                    "amr": ["pwd"],
                    "acr": "1",
                    "created_at": seen,
                    "last_seen_at": seen,
                    "expires_at": future,
                }
            )
    # Registration tokens without an expiry stay, however old.
    rows[tables.registration_tokens] += [
        {"token_hash": uuid.uuid4().hex, "uses_left": None, "created_at": old, "expires_at": None} for _ in range(live)
    ]
    # Audit events: older than the 365-day retention, and younger.
    for n, ts in [(expired, now - 366 * DAY), (live, now - 364 * DAY)]:
        rows[tables.audit_events] += [{"ts": ts, "event": "test.seeded", "data": {}} for _ in range(n)]
    with db.begin() as conn:
        for table, values in rows.items():
            if values:
                conn.execute(table.insert(), values)


def counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    names = [
        "auth_codes",
        "refresh_tokens",
        "browser_sessions",
        "device_codes",
        "account_links",
        "registration_tokens",
        "audit_events",
    ]
    with db.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(tables.metadata.tables[name])).scalar_one()
            for name in names
        }


def test_purge_deletes_expired_rows_of_every_kind_in_batches_and_keeps_live_ones(cli, db, owner, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_PURGE_BATCH_SIZE", "10")  # 25 expired rows of a kind: three batches
    before_audit = counts(db)["audit_events"]
    seed(db, *owner, expired=25, live=3, now=int(time.time()))
    dry = cli("purge", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    expected = {
        "auth_codes": 25,
        "refresh_tokens": 50,
        "browser_sessions": 50,
        "device_codes": 25,
        "account_links": 25,
        "registration_tokens": 25,
        "audit_events": 25,
    }
    assert dry.json()["dry_run"] is True
    assert dry.json()["would_delete"] == expected
    assert counts(db)["auth_codes"] == 28  # a dry run deletes nothing

    result = cli("purge", "--json")
    assert result.code == 0, result.err
    assert result.json()["deleted"] == expected
    assert counts(db) == {
        "auth_codes": 3,
        "refresh_tokens": 6,
        "browser_sessions": 6,
        "device_codes": 3,
        "account_links": 3,
        "registration_tokens": 6,  # 3 within the grace, 3 that never expire
        "audit_events": 3 + before_audit,
    }
    again = cli("purge")
    assert again.code == 0
    assert "deleted 0" in again.out


def test_audit_retention_is_a_setting(cli, db, owner, monkeypatch):
    now = int(time.time())
    with db.begin() as conn:
        conn.execute(tables.audit_events.delete())
        conn.execute(
            tables.audit_events.insert(),
            [{"ts": now - days * DAY, "event": f"test.{days}", "data": {}} for days in (400, 31, 29, 1)],
        )
    monkeypatch.setenv("AUTHSERVER_AUDIT_RETENTION_DAYS", "30")
    assert cli("purge", "--json").json()["deleted"]["audit_events"] == 2
    with db.connect() as conn:
        left = {r[0] for r in conn.execute(sa.select(tables.audit_events.c.event))}
    assert left == {"test.29", "test.1"}
    monkeypatch.setenv("AUTHSERVER_AUDIT_RETENTION_DAYS", "0")
    assert_error(cli("purge"), contains="AUTHSERVER_AUDIT_RETENTION_DAYS")


@pytest.mark.skipif(not PG_URL, reason="the purger's lock is a PostgreSQL advisory lock")
def test_one_purger_at_a_time(cli, db, owner):
    from authserver.store.sql.purge import LOCK_KEY

    seed(db, *owner, expired=2, live=0, now=int(time.time()))
    with db.connect() as holder:
        assert holder.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar_one()
        busy = cli("purge")
        assert_error(busy, contains="another purge is running")
        assert cli("purge", "--dry-run", "--json").json()["would_delete"]["auth_codes"] == 2  # counting needs no lock
        assert counts(db)["auth_codes"] == 2
        holder.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
    assert cli("purge", "--json").json()["deleted"]["auth_codes"] == 2


def test_the_server_purges_in_the_background(make_app, db, owner):
    before_audit = counts(db)["audit_events"]
    seed(db, *owner, expired=5, live=2, now=int(time.time()))
    make_app(purge_interval_seconds=0.2)
    expected = {
        "auth_codes": 2,
        "refresh_tokens": 4,
        "browser_sessions": 4,
        "device_codes": 2,
        "account_links": 2,
        "registration_tokens": 4,  # 2 within the grace, 2 that never expire
        "audit_events": 2 + before_audit,
    }
    deadline = time.monotonic() + 30
    while counts(db) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counts(db) == expected


def test_no_background_purge_when_switched_off(make_app, db, owner):
    seed(db, *owner, expired=3, live=0, now=int(time.time()))
    http = make_app(purge_interval_seconds=0)
    for _ in range(5):
        assert http.get("/healthz").status_code == 200
        time.sleep(0.1)
    assert counts(db)["auth_codes"] == 3
