"""Server-rendered pages (Jinja2, autoescaped) with the headers every page needs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.responses import HTMLResponse

from authserver.errors import OAuthError


class PageError(OAuthError):
    """A failure shown to a person as a page, never as a redirect."""

    def __init__(self, message: str, *, status_code: int = 400, title: str = "Something went wrong") -> None:
        super().__init__(message, status_code=status_code)
        self.title = title


def origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    if parts.scheme:  # native-app custom schemes
        return f"{parts.scheme}:"
    return None


class Pages:
    def __init__(self, templates: Path, *, product_name: str = "authserver") -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )
        self.env.globals["product_name"] = product_name

    def render(
        self, name: str, context: dict[str, Any], *, status: int = 200, form_targets: Iterable[str] = ()
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        # Forms may post (and redirect after posting) only to us and to the client's redirect URI:
        # browsers apply form-action to the redirects that follow a submission too.
        targets = " ".join(dict.fromkeys(o for o in (origin(t) for t in form_targets) if o))
        csp = (
            # connect-src: the passkey script asks this server for WebAuthn options (fetch).
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; "
            f"form-action 'self'{(' ' + targets) if targets else ''}; frame-ancestors 'none'; base-uri 'none'"
        )
        headers = {
            "content-security-policy": csp,
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
            "pragma": "no-cache",
        }
        return HTMLResponse(html, status_code=status, headers=headers)

    def error(self, exc: PageError) -> HTMLResponse:
        return self.render("error.html", {"title": exc.title, "message": exc.description or ""}, status=exc.status_code)
