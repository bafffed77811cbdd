"""A real SMTP server for the tests (aiosmtpd on a free local port) and helpers to read what it got."""

from __future__ import annotations

import re
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.server import free_port

LINK = re.compile(r"https?://[^\s<>\"']+")


class Mailbox:
    """Every message the server accepted, in order; `refuse` makes it answer RCPT TO with that reply."""

    def __init__(self, port: int | None = None, **controller_options: object) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: str | None = None
        self.logins: list[tuple[str, str]] = []
        self._options = controller_options
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"

    def start(self) -> Mailbox:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **self._options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, count: int = 1, timeout: float = 30) -> list[EmailMessage]:
        """The first `count` messages, waiting for them to arrive (the delivery loop is asynchronous)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages[:count])
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def last(self, address: str, *, after: int = 0, timeout: float = 30) -> EmailMessage:
        """The newest message to `address`, waiting until more than `after` have arrived for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(address)
            if len(got) > after:
                return got[-1]
            time.sleep(0.05)
        raise AssertionError(f"no new message to {address} (had {after})")


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None, "no text/plain part"
    return body.get_content()


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None, "no text/html part"
    return body.get_content()


def links(message: EmailMessage) -> list[str]:
    return LINK.findall(text_of(message))


def link_to(message: EmailMessage, path: str) -> str:
    """The one link in the message whose path starts with `path`; it is also in the HTML part."""
    found = [url for url in links(message) if re.match(r"https?://[^/]+" + re.escape(path), url)]
    assert len(found) == 1, (path, links(message))
    assert found[0].replace("&", "&amp;") in html_of(message) or found[0] in html_of(message)
    return found[0]
