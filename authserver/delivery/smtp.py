"""Sending email: SMTP (the only importer of smtplib) or, in development without SMTP, the log.

`smtp://` uses STARTTLS whenever the server offers it (RFC 3207), `smtps://` TLS from the first byte
(RFC 8314 §3.3); certificates are verified against the system's trust store. Blocking: the outbox
runner calls these off the event loop.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

from authserver.delivery import DeliveryError
from authserver.settings import Settings

logger = logging.getLogger("authserver.mail")


class MailTransport(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def describe(self) -> str:
        """Where messages go, without credentials (for the CLI and the start-up log)."""
        ...


class LogTransport:
    """Development without a mail server: the whole message, links included, goes to the log."""

    def send(self, message: EmailMessage) -> None:
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        logger.warning(
            "email (no AUTHSERVER_SMTP_URL: logged, not sent) to %s: %s\n%s",
            message["To"],
            message["Subject"],
            text,
            extra={"mail_to": message["To"], "mail_subject": message["Subject"], "mail_text": text},
        )

    def describe(self) -> str:
        return "the log (AUTHSERVER_SMTP_URL is not set)"


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        if settings.smtp_url is None:  # build_transport picks this transport only with a URL
            raise ValueError("SmtpTransport needs AUTHSERVER_SMTP_URL")
        parts = urlsplit(settings.smtp_url.get_secret_value())
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname or ""
        self.port = parts.port or (465 if self.tls else 25)
        self.username = settings.smtp_username or (unquote(parts.username) if parts.username else None)
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        self.password = password or (unquote(parts.password) if parts.password else None)
        self.timeout = settings.smtp_timeout

    def describe(self) -> str:
        return f"{'smtps' if self.tls else 'smtp'}://{self.host}:{self.port}"

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        try:
            if self.tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if not self.tls and client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"recipient refused ({codes})", permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            # 5xx is a permanent refusal (RFC 5321 §4.2.1), except authentication failures, which an
            # operator fixes in the settings: those messages must wait for the fix, not be dropped.
            permanent = exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError)
            raise DeliveryError(f"{exc.smtp_code} {reply}"[:300], permanent=permanent) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None


def build_transport(settings: Settings) -> MailTransport:
    return SmtpTransport(settings) if settings.smtp_url is not None else LogTransport()
