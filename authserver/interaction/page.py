"""The one preamble of every hosted-page handler: the services, the parameters (a POSTed form is read
size-capped and its CSRF token checked before anything else; a GET reads the query string through the one
parser, web/forms.parse_pairs), this browser's binding, and, for the sign-in pages, the pending interaction.

    page = await open_page(request)                   # account pages, links from emails
    opened = await open_interaction(request, HANDLES)  # /login, /mfa, /consent, /device/confirm, ...
    if isinstance(opened, Response):                  # the interaction waits on another page
        return opened
    page, it = opened

Each sign-in page declares what it handles (`Handles`: kinds of flow, steps). An interaction of another kind
gets the "sign-in expired" page; one at another step is answered as an out-of-order request always was:
sent to the page of the step it waits on, or, where the page says so (/mfa before the password), the
"sign-in expired" page. Nothing is granted either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.errors import OAuthError
from authserver.i18n import N_
from authserver.interaction import state
from authserver.interaction.flow import EXPIRED, PAGES, load_for_browser
from authserver.services import Services, services
from authserver.web.cookies import browser_binding, check_csrf, csrf_token
from authserver.web.forms import parse_pairs, read_form
from authserver.web.pages import PageError


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


@dataclass(frozen=True)
class Handles:
    """What a sign-in page handles: interactions of these kinds, waiting on one of these steps."""

    steps: frozenset[state.Step]
    kinds: frozenset[state.FlowKind] = frozenset(state.FlowKind)
    # At another step: send the browser to that step's page (True), or show the "sign-in expired" page.
    redirect: bool = True


# The sign-in page, and what it offers (a passkey, an upstream): every step may go back to it (another
# account, the back button, signing in instead of signing up).
SIGN_IN_PAGE = Handles(frozenset(state.Step))

# The second factor (/mfa and its passkey options): only after the password (or an upstream) proved the
# first factor; before it, the "sign-in expired" page.
SECOND_FACTOR_PAGE = Handles(frozenset({state.Step.SECOND_FACTOR}), redirect=False)

# A new verification link for the address a sign-in stopped at: only while the interaction waits on it.
VERIFY_EMAIL_PAGE = Handles(frozenset({state.Step.VERIFY_EMAIL}), redirect=False)


def _query(request: Request) -> dict[str, str]:
    """A GET's parameters; of repeated ones the last counts. A query string that does not parse (not UTF-8,
    NUL characters, too many fields) carries no parameters: the page then says what is missing or expired,
    as it would for a link that was cut short."""
    try:
        return dict(parse_pairs(request.url.query, refuse_repeats=False))
    except OAuthError:
        return {}


class WrongStep(PageError):
    """An interaction at a step the page does not handle: the "sign-in expired" page, or, for a page that
    sends the browser on, `location` (the page of the step it waits on). JSON endpoints answer it as any
    other PageError: an error object with its description."""

    def __init__(self, location: str | None) -> None:
        super().__init__(EXPIRED, title=N_("Sign-in expired"))
        self.location = location


async def load_interaction(
    request: Request, svc: Services, interaction_id: str | None, browser: str, handles: Handles
) -> state.Interaction:
    """The interaction named, started in this browser, of a kind and at a step `handles` takes. Otherwise
    PageError (the "sign-in expired" page), or WrongStep at another step. The check of every endpoint that
    continues a sign-in: the pages (through open_interaction), the passkey options, the upstream callback."""
    it = await load_for_browser(request, svc, interaction_id, browser)
    if it.flow.kind not in handles.kinds:
        raise PageError(EXPIRED, title=N_("Sign-in expired"))
    if it.step not in handles.steps:
        target = PAGES.get(it.step)
        if not handles.redirect or target is None:
            raise WrongStep(None)
        raise WrongStep(f"{target}?" + urlencode({"interaction": it.id}))
    return it


async def open_interaction(
    request: Request, handles: Handles, *, form: bool | None = None
) -> tuple[Page, state.Interaction] | Response:
    """The page, and the interaction it names, started in this browser (or the "sign-in expired" page), when
    it is of a kind and at a step this page handles. At another step: a redirect to that step's page, or
    (`handles.redirect` False, or a step without a page) the "sign-in expired" page."""
    page = await open_page(request, form=form)
    try:
        it = await load_interaction(request, page.svc, page.param("interaction"), page.browser, handles)
    except WrongStep as exc:
        if exc.location is None:
            raise
        return RedirectResponse(exc.location, status_code=303)
    return page, it
