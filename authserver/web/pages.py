"""Server-rendered pages (Jinja2, autoescaped) with the headers every page needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

from authserver import logs
from authserver.domain import Client
from authserver.errors import OAuthError
from authserver.i18n import N_, Catalogs
from authserver.rendering import PAGES, translating_environment


class PageError(OAuthError):
    """A failure shown to a person as a page, never as a redirect: a title and a message (marked with N_ or
    an i18n.Message: shown translated), and a technical detail for support, shown as it is (English)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 400,
        title: str = N_("Something went wrong"),
        detail: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.title = title
        self.detail = detail


def origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    if parts.scheme:  # native-app custom schemes
        return f"{parts.scheme}:"
    return None


@dataclass(frozen=True)
class Branding:
    product_name: str = "authserver"
    logo_url: str | None = None  # https:// or /static/... (settings checked)
    support_url: str | None = None
    brand_css: str | None = None  # the stylesheet with the primary colour, when one is set


def https_origin(uri: str | None) -> str | None:
    """The origin of an https image URL, for img-src; None for our own files (covered by 'self')."""
    parts = urlsplit(uri or "")
    return f"https://{parts.netloc}" if parts.scheme == "https" and parts.netloc else None


# The page's names for the RFC 7591 metadata the manage layer checked when the client was registered.
PRESENTATION = {"client_logo": "logo_uri", "client_uri": "client_uri", "policy_uri": "policy_uri", "tos_uri": "tos_uri"}


def client_presentation(client: Client | None) -> dict[str, str]:
    """What the consent and device pages show of the client, as it registered it (checked then)."""
    if client is None:
        return {}
    shown = client.client_metadata
    return {key: str(shown.get(uri) or "") for key, uri in PRESENTATION.items()}


class Pages:
    def __init__(self, templates: Sequence[Path], catalogs: Catalogs, branding: Branding = Branding()) -> None:
        self.catalogs = catalogs
        self.env = translating_environment(templates, catalogs, PAGES)
        self.env.globals.update(
            product_name=branding.product_name,
            logo_url=branding.logo_url or "",
            support_url=branding.support_url or "",
            brand_css=branding.brand_css or "",
            # Pages that show a client override these (client_presentation).
            client_logo="",
            client_uri="",
            policy_uri="",
            tos_uri="",
        )
        self.logo_origin = https_origin(branding.logo_url)

    def render(
        self,
        name: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        form_targets: Iterable[str] = (),
        images: Iterable[str | None] = (),
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(lang=self.catalogs.language(), **context)
        # Forms may post (and redirect after posting) only to us and to the client's redirect URI:
        # browsers apply form-action to the redirects that follow a submission too.
        targets = " ".join(dict.fromkeys(o for o in (origin(t) for t in form_targets) if o))
        # Images only from us, and from the https origins of the logos this page shows.
        logos = dict.fromkeys(o for o in (self.logo_origin, *(https_origin(i) for i in images)) if o)
        img_src = " ".join(["'self'", "data:", *logos])
        csp = (
            # connect-src: the passkey script asks this server for WebAuthn options (fetch).
            f"default-src 'none'; style-src 'self'; img-src {img_src}; script-src 'self'; connect-src 'self'; "
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
        context = {
            "title": exc.title,
            "message": exc.description or "",
            "detail": exc.detail or "",
            "request_id": logs.request_id(),
        }
        return self.render("error.html", context, status=exc.status_code)
