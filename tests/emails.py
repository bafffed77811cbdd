"""Helpers for flows that go through an email: open a link from a received message like a person would."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.testclient import TestClient

from tests.helpers import forms, submit
from tests.mailbox import Mailbox, link_to

APP_MAIL = {"mail_poll_seconds": 0.1, "mail_retry_seconds": 1, "mail_max_retry_seconds": 1}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme + "://" + parts.netloc == "http://testserver", url
    return parts.path + ("?" + parts.query if parts.query else "")


def open_link(http: TestClient, mailbox: Mailbox, to: str, path: str, *, after: int = 0):  # type: ignore[no-untyped-def]
    """The page behind the link to `path` in the newest message to `to` (the (after+1)-th one)."""
    message = mailbox.last(to, after=after)
    page = http.get(path_of(link_to(message, path)), follow_redirects=False)
    return page, message


def signup(http: TestClient, *, interaction: str | None = None, **fields: str):  # type: ignore[no-untyped-def]
    """Fill in /signup; returns the response to the form."""
    page = http.get("/signup" + (f"?interaction={interaction}" if interaction else ""), follow_redirects=False)
    assert page.status_code == 200, page.text
    values = {"username": "bob", "email": "bob@example.com", "name": "Bob", "password": "purple monkey dishwasher"}
    values.update(fields)
    return submit(http, page, **values)


def confirm(http: TestClient, page):  # type: ignore[no-untyped-def]
    """Press the one button of a link's page (the POST that uses the link)."""
    assert page.status_code == 200, page.text
    assert len(forms(page.text)) == 1
    return submit(http, page)
