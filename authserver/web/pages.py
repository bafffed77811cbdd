"""Server-rendered pages (Jinja2, autoescaped) with the headers every page needs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.responses import HTMLResponse

from authserver import logs
from authserver.errors import OAuthError
from authserver.i18n import N_, Catalogs


class PageError(OAuthError):
    """A failure shown to a person as a page, never as a redirect."""

    def __init__(self, message: str, *, status_code: int = 400, title: str = N_("Something went wrong")) -> None:
        super().__init__(message, status_code=status_code)
        self.title = title


def origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    if parts.scheme:  # native-app custom schemes
        return f"{parts.scheme}:"
    return None


def translating_environment(loader: jinja2.BaseLoader, catalogs: Catalogs, **options: Any) -> jinja2.Environment:
    """Jinja2 with the gettext callables of the catalogs (`_`, `ngettext`, `{% trans %}`), the `t` filter
    for text that the code marked with N_ (translated, then autoescaped like any value), and the
    per-locale `moment` and `number` filters."""
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        **options,
    )
    # newstyle: the translation is formatted by Jinja2 itself, with every variable escaped.
    env.install_gettext_callables(catalogs.gettext, catalogs.ngettext, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension
    env.filters["t"] = catalogs.gettext
    env.filters["moment"] = catalogs.format_moment
    env.filters["number"] = catalogs.format_number
    return env


class Pages:
    def __init__(self, templates: Path, catalogs: Catalogs, *, product_name: str = "authserver") -> None:
        self.catalogs = catalogs
        self.env = translating_environment(jinja2.FileSystemLoader(str(templates)), catalogs)
        self.env.globals.update(product_name=product_name, brand_css="", logo_url="", support_url="")

    def render(
        self, name: str, context: dict[str, Any], *, status: int = 200, form_targets: Iterable[str] = ()
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(lang=self.catalogs.language(), **context)
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
        # The request id (also in the X-Request-ID header and every log line) lets support find what happened.
        context = {"title": exc.title, "message": exc.description or "", "request_id": logs.request_id()}
        return self.render("error.html", context, status=exc.status_code)
