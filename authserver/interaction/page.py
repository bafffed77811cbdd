"""The one preamble of every hosted-page handler: the services, the parameters (a POSTed form is read
size-capped and its CSRF token checked before anything else; a GET reads the query string through the one
parser, web/forms.parse_pairs), this browser's binding, and, for the sign-in pages, the pending interaction.

    page = await open_page(request)                   # account pages, links from emails
    page, it = await open_interaction(request)        # /login, /mfa, /consent, /device/confirm, ...
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from authserver.errors import OAuthError
from authserver.interaction import state
from authserver.interaction.flow import load_for_browser
from authserver.services import Services, services
from authserver.web.cookies import browser_binding, check_csrf, csrf_token
from authserver.web.forms import parse_pairs, read_form


@dataclass(frozen=True)
class Page:
    svc: Services
    posted: bool
    form: dict[str, str]  # the POSTed form, its CSRF token checked; empty for a GET
    query: dict[str, str]  # the query string of a GET; empty for a POST
    browser: str  # this browser's binding (web/cookies.browser_binding of its CSRF token)

    def param(self, name: str) -> str | None:
        """A parameter from where this method carries them: the form of a POST, the query of a GET."""
        return (self.form if self.posted else self.query).get(name)


async def open_page(request: Request, *, form: bool | None = None) -> Page:
    """`form`: read a form (and check its CSRF token) whatever the method; by default only for a POST."""
    svc = services(request)
    posted = request.method == "POST" if form is None else form
    fields: dict[str, str] = {}
    if posted:
        fields = dict(await read_form(request, svc.settings.max_body_bytes))
        check_csrf(request, svc.settings, fields)
    return Page(
        svc, posted, fields, {} if posted else _query(request), browser_binding(csrf_token(request, svc.settings))
    )


def _query(request: Request) -> dict[str, str]:
    """A GET's parameters; of repeated ones the last counts. A query string that does not parse (not UTF-8,
    NUL characters, too many fields) carries no parameters: the page then says what is missing or expired,
    as it would for a link that was cut short."""
    try:
        return dict(parse_pairs(request.url.query, refuse_repeats=False))
    except OAuthError:
        return {}


async def open_interaction(request: Request, *, form: bool | None = None) -> tuple[Page, state.Interaction]:
    """The page, and the interaction it names, started in this browser (or the "sign-in expired" page)."""
    page = await open_page(request, form=form)
    it = await load_for_browser(request, page.svc, page.param("interaction"), page.browser)
    return page, it
