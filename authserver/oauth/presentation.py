"""A client's presentation metadata (OIDC Dynamic Client Registration 1.0 §2): what the consent and
device pages show of it. Checked when the client is registered, so a page never meets a logo that could
break its CSP or a link to a script.

logo_uri: an https URL (its origin joins the page's img-src) or one of our own /static/ files.
(client_uri, policy_uri and tos_uri are checked like the other web URLs of a client, manage/clients.py.)
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_LENGTH = 2000


class PresentationError(ValueError):
    pass


def _shape(uri: str) -> None:
    if len(uri) > MAX_LENGTH or any(c.isspace() or ord(c) < 0x20 for c in uri):
        raise PresentationError(f"must be at most {MAX_LENGTH} characters, without spaces")


def check_logo_uri(uri: str) -> str:
    _shape(uri)
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname and not parts.username and not parts.password and not parts.fragment:
        return uri
    if not parts.scheme and not parts.netloc and uri.startswith("/static/") and ".." not in uri and "\\" not in uri:
        return uri
    raise PresentationError("must be an https:// URL or a path under /static/ (our own files)")
