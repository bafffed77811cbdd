"""Email delivery: `authserver mail test|queue|retry` and the servers' delivery loop, against a real SMTP
server (aiosmtpd): what is sent, outages (the message waits and is delivered once when SMTP returns,
after a server restart too), permanent refusals, two servers sharing one outbox."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.cli.checks import assert_error
from tests.mailbox import Mailbox, html_of, text_of
from tests.server import free_port

FAST = {"mail_poll_seconds": 0.05, "mail_retry_seconds": 1, "mail_max_retry_seconds": 1}


def wait_until(predicate, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def queue(cli, *args: str) -> list[dict]:  # type: ignore[no-untyped-def]
    result = cli("mail", "queue", "--json", *args)
    assert result.code == 0, result.err
    return result.json()


# --- mail test ---------------------------------------------------------------------------------


def test_mail_test_sends_text_and_html_through_smtp(cli, monkeypatch, mailbox):
    monkeypatch.setenv("AUTHSERVER_SMTP_URL", mailbox.url)
    monkeypatch.setenv("AUTHSERVER_SMTP_FROM", "Example IdP <idp@example.org>")
    result = cli("mail", "test", "--to", "ops@example.com", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"to": "ops@example.com", "sent": True, "via": mailbox.url}
    (message,) = mailbox.wait(1)
    assert message["To"] == "ops@example.com"
    assert message["From"] == "Example IdP <idp@example.org>"
    assert message["Subject"] == "Test message from authserver"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.org>")
    assert mailbox.envelopes == [("idp@example.org", ["ops@example.com"])]
    assert "can send email to ops@example.com" in text_of(message)
    assert "<strong>ops@example.com</strong>" in html_of(message)


def test_mail_test_default_from_is_the_issuer_host(cli, monkeypatch, mailbox):
    monkeypatch.setenv("AUTHSERVER_SMTP_URL", mailbox.url)
    assert cli("mail", "test", "--to", "ops@example.com").code == 0
    assert mailbox.wait(1)[0]["From"] == "noreply@testserver"


def test_mail_test_logs_in_on_the_smtp_server_with_the_url_credentials(cli, monkeypatch):
    from aiosmtpd.smtp import AuthResult

    box = Mailbox(
        authenticator=lambda server, session, envelope, mechanism, data: AuthResult(
            success=(data.login, data.password) == (b"mailer", b"p@ss word")
        ),
        auth_require_tls=False,
    ).start()
    try:
        monkeypatch.setenv("AUTHSERVER_SMTP_URL", f"smtp://mailer:p%40ss%20word@127.0.0.1:{box.port}")
        assert cli("mail", "test", "--to", "ops@example.com").code == 0, "right credentials"
        box.wait(1)
        monkeypatch.setenv("AUTHSERVER_SMTP_URL", f"smtp://mailer:wrong-secret@127.0.0.1:{box.port}")
        monkeypatch.setenv("AUTHSERVER_SMTP_TIMEOUT", "2")
        err = assert_error(cli("mail", "test", "--to", "ops@example.com"), contains="not sent through")
        assert "wrong-secret" not in err and "mailer:" not in err
        # Separate settings win over the URL.
        monkeypatch.setenv("AUTHSERVER_SMTP_USERNAME", "mailer")
        monkeypatch.setenv("AUTHSERVER_SMTP_PASSWORD", "p@ss word")
        assert cli("mail", "test", "--to", "ops@example.com").code == 0
        box.wait(2)
    finally:
        box.stop()


def test_mail_test_with_smtp_down_is_a_one_line_error_without_the_password(cli, monkeypatch):
    port = free_port()
    monkeypatch.setenv("AUTHSERVER_SMTP_URL", f"smtp://user:hunter2-secret@127.0.0.1:{port}")
    err = assert_error(cli("mail", "test", "--to", "ops@example.com"), contains=f"smtp://127.0.0.1:{port}")
    assert "hunter2" not in err
    assert "ConnectionRefusedError" in err


def test_mail_test_without_smtp_writes_the_whole_message_to_the_log(cli, caplog):
    with caplog.at_level(logging.INFO, logger="authserver.mail"):
        result = cli("mail", "test", "--to", "ops@example.com")
    assert result.code == 0, result.err
    assert "via the log" in result.out
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "authserver.mail")
    assert "ops@example.com" in logged and "Test message from authserver" in logged
    assert "can send email to ops@example.com" in logged


@pytest.mark.parametrize("address", ["nobody", "a@b", "two@example.com,three@example.com", "x" * 70 + "@example.com"])
def test_mail_test_refuses_what_is_not_one_address(cli, address):
    assert_error(cli("mail", "test", "--to", address), contains="--to must be an email address")


@pytest.mark.parametrize(
    ("url", "complaint"),
    [("http://mail.example.com", "smtp://host:port"), ("smtp://", "smtp://host:port"), ("smtp://h:x", "port")],
)
def test_a_malformed_smtp_url_is_a_configuration_error(cli, monkeypatch, url, complaint):
    monkeypatch.setenv("AUTHSERVER_SMTP_URL", url)
    err = assert_error(cli("mail", "test", "--to", "ops@example.com"), contains="AUTHSERVER_SMTP_URL")
    assert complaint in err


def test_a_malformed_from_address_is_a_configuration_error(cli, monkeypatch):
    monkeypatch.setenv("AUTHSERVER_SMTP_FROM", "not an address")
    assert_error(cli("mail", "test", "--to", "ops@example.com"), contains="AUTHSERVER_SMTP_FROM")


# --- the outbox and the delivery loop ----------------------------------------------------------


def test_queued_message_is_delivered_by_the_server_and_marked_sent(cli, make_app, mailbox):
    assert queue(cli) == []
    queued = cli("mail", "test", "--to", "ops@example.com", "--queue", "--json").json()
    (waiting,) = queue(cli)
    assert waiting["id"] == queued["id"]
    assert waiting["status"] == "pending" and waiting["attempts"] == 0 and waiting["to"] == "ops@example.com"
    assert waiting["subject"] == "Test message from authserver"
    assert "delivery loop" in waiting["why"]

    make_app(smtp_url=mailbox.url, **FAST)
    (message,) = mailbox.wait(1)
    assert message["To"] == "ops@example.com"
    wait_until(lambda: queue(cli) == [])
    (sent,) = queue(cli, "--all")
    assert sent["status"] == "sent" and sent["attempts"] == 1 and sent["sent_at"]
    time.sleep(0.3)
    assert len(mailbox.messages) == 1


def test_the_outbox_holds_no_readable_link_or_body(cli, env):
    import sqlalchemy as sa

    cli("mail", "test", "--to", "ops@example.com", "--queue")
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            (payload,) = conn.execute(sa.text("SELECT payload FROM outbox")).one()
    finally:
        engine.dispose()
    assert "ops@example.com" not in payload and "can send email" not in payload


def test_smtp_outage_the_message_waits_and_is_delivered_once_when_smtp_returns(cli, make_app):
    box = Mailbox()  # not started: the port refuses connections
    cli("mail", "test", "--to", "ops@example.com", "--queue")
    make_app(smtp_url=box.url, **FAST)
    failed = wait_until(lambda: [m for m in queue(cli) if m["attempts"] >= 2])
    assert failed[0]["status"] == "pending" and "ConnectionRefusedError" in failed[0]["last_error"]
    assert "retry" in failed[0]["why"]
    box.start()
    try:
        box.wait(1)
        wait_until(lambda: queue(cli) == [])
        time.sleep(1.5)  # past another retry delay: nothing is sent twice
        assert len(box.messages) == 1
    finally:
        box.stop()


def test_smtp_outage_across_a_server_restart(cli, make_app):
    box = Mailbox()
    cli("mail", "test", "--to", "ops@example.com", "--queue")
    first = make_app(smtp_url=box.url, **FAST)
    wait_until(lambda: [m for m in queue(cli) if m["attempts"] >= 1])
    first.__exit__(None, None, None)  # the server stops while the message is undelivered
    (waiting,) = queue(cli)
    assert waiting["status"] == "pending"
    box.start()
    try:
        make_app(smtp_url=box.url, **FAST)
        box.wait(1)
        wait_until(lambda: queue(cli) == [])
        time.sleep(0.5)
        assert len(box.messages) == 1
    finally:
        box.stop()


def test_a_permanent_refusal_is_given_up_after_the_attempts_and_can_be_retried(cli, make_app, mailbox):
    mailbox.refuse = "550 5.1.1 No such user"
    cli("mail", "test", "--to", "gone@example.com", "--queue")
    make_app(smtp_url=mailbox.url, mail_max_attempts=2, **FAST)
    (failed,) = wait_until(lambda: [m for m in queue(cli) if m["status"] == "failed"])
    assert failed["attempts"] == 2 and "550" in failed["last_error"]
    assert "mail retry" in failed["why"] and failed["next_attempt_at"] is None
    assert mailbox.messages == []

    mailbox.refuse = None
    result = cli("mail", "retry", failed["id"])
    assert result.code == 0, result.err
    mailbox.wait(1)
    wait_until(lambda: queue(cli) == [])
    assert_error(cli("mail", "retry", failed["id"]), contains="no failed message")


def test_a_temporary_refusal_is_retried_until_delivered(cli, make_app, mailbox):
    mailbox.refuse = "451 4.3.0 Try again later"
    cli("mail", "test", "--to", "ops@example.com", "--queue")
    make_app(smtp_url=mailbox.url, mail_max_attempts=1, **FAST)
    (waiting,) = wait_until(lambda: [m for m in queue(cli) if m["attempts"] >= 2])
    assert waiting["status"] == "pending" and "451" in waiting["last_error"]
    mailbox.refuse = None
    mailbox.wait(1)


def test_two_servers_sharing_the_outbox_send_each_message_once(cli, make_app, mailbox):
    count = 40
    for i in range(count):
        assert cli("mail", "test", "--to", f"user{i}@example.com", "--queue").code == 0
    barrier = threading.Barrier(2)
    # Both start polling the same table at once.
    apps = []

    def start() -> None:
        barrier.wait()
        apps.append(make_app(smtp_url=mailbox.url, **FAST))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mailbox.wait(count)
    wait_until(lambda: queue(cli) == [])
    time.sleep(0.5)
    recipients = [str(m["To"]) for m in mailbox.messages]
    assert sorted(recipients) == sorted(f"user{i}@example.com" for i in range(count))
