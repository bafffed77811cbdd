"""Email messages from Jinja2 templates (templates/email/NAME.txt and NAME.html): a plain-text and an
HTML body, the subject from the text template's `subject` block. Composed when their cause happens,
queued through the outbox, built into a MIME message and sent when the runner delivers them."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authserver.delivery.smtp import MailTransport
from authserver.domain import OutboxMessage
from authserver.i18n import Catalogs
from authserver.outbox import Outbox
from authserver.rendering import EMAILS, translating_environment
from authserver.settings import Settings

KIND = "email"


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


class Mailer:
    def __init__(
        self,
        templates: Sequence[Path],
        settings: Settings,
        outbox: Outbox,
        transport: MailTransport,
        catalogs: Catalogs,
        *,
        product: str,
    ) -> None:
        # In the language of the request that caused the message (the pages' own choice); plain-text
        # parts need the block tags' own lines and indentation gone.
        self.env = translating_environment(templates, catalogs, EMAILS, trim_blocks=True, lstrip_blocks=True)
        self.catalogs = catalogs
        self.env.globals.update(product_name=product, issuer=settings.issuer)
        self.settings = settings
        self.outbox = outbox
        self.transport = transport

    def render(self, template: str, to: str, **context: object) -> Email:
        """Both bodies and the subject; the templates see `to` besides `context`."""
        context = {"to": to, **context}
        text = self.env.get_template(f"email/{template}.txt")
        subject = "".join(text.blocks["subject"](text.new_context(context))).strip()
        html = self.env.get_template(f"email/{template}.html").render(
            subject=subject, lang=self.catalogs.language(), **context
        )
        return Email(to=to, subject=subject, text=text.render(**context), html=html)

    def compose(self, template: str, to: str, **context: object) -> OutboxMessage:
        """An outbox message for `to`, to be stored together with its cause."""
        mail = self.render(template, to, **context)
        return self.outbox.message(KIND, to, mail.subject, asdict(mail))

    def build(self, mail: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = email.utils.formatdate(time.time(), usegmt=True)  # when it was sent: the wall clock
        domain = (
            email.utils.parseaddr(self.settings.mail_from)[1].rpartition("@")[2]
            or urlsplit(self.settings.issuer).hostname
        )
        message["Message-ID"] = email.utils.make_msgid(domain=domain)
        # RFC 3834 §5: machine-generated; auto-responders should not answer it.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    def deliver(self, payload: dict[str, Any]) -> None:
        """The outbox handler for KIND; raises delivery.DeliveryError."""
        self.transport.send(self.build(Email(**payload)))
