"""What an account page asks before it acts: a signed-in session, and for changes to how the account is
protected, a recent authentication ("sudo mode").

`require_recent_auth` is the one gate for every such change (enrolling or removing TOTP, new backup
codes, a new password, adding or removing a passkey; later the email address and deleting the account):
the session must have proved the password, and the second factor when one is enrolled (an authenticator
app or a passkey), or a passkey with user verification alone, within `reauth_seconds` (default 300) —
either when it signed in or on the re-authentication page (interaction/reauth.py), which records the
time in the server-side session. Otherwise the browser is sent to that page and then back. A stolen
session cookie alone therefore cannot change a password or a factor.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import BrowserSession, User
from authserver.interaction import state
from authserver.interaction.credentials import has_second_factor
from authserver.interaction.page import open_page
from authserver.interaction.sessions import current_session
from authserver.services import Services
from authserver.web.cookies import attach_csrf, browser_binding, csrf_token

ACCOUNT = "/account"
REAUTH = "/account/reauth"


def safe_next(value: str | None) -> str:
    """A path on the account pages to come back to; anything else (other sites, other pages) is /account."""
    if not value or len(value) > 200 or "\\" in value:
        return ACCOUNT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//") or parts.fragment:
        return ACCOUNT
    if parts.path != ACCOUNT and not parts.path.startswith(ACCOUNT + "/"):
        return ACCOUNT
    if ".." in parts.path.split("/"):
        return ACCOUNT
    return value


async def signed_in(
    request: Request, svc: Services, *, back_to: str = ACCOUNT
) -> tuple[BrowserSession, User] | Response:
    """The session and its user, or a redirect that signs in first and then comes back to `back_to`."""
    session = await current_session(request, svc)
    user = await run_sync(svc.store.get_user, session.user_id) if session else None
    if session is None or user is None:
        it = state.new_interaction(
            state.AccountFlow(next=safe_next(back_to)),
            browser_binding(csrf_token(request, svc.settings)),
            int(svc.clock()),
        )
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        response = RedirectResponse("/login?" + urlencode({"interaction": it.id}), status_code=303)
        attach_csrf(request, response, svc.settings)
        return response
    return session, user


def is_recent(session: BrowserSession, *, second_factor: bool, now: int, window: int) -> bool:
    """Did the session prove the password (and a second factor, if the account has one) within `window`?
    A multi-factor proof without the password counts too: a passkey with user verification. A sign-in
    through a linked upstream ("fed") is a first factor like the password."""
    proofs = [(session.auth_time, session.amr)]
    if session.reauth_at is not None and session.reauth_amr is not None:
        proofs.append((session.reauth_at, session.reauth_amr))
    return any(
        0 <= now - at <= window and ("mfa" in amr or (("pwd" in amr or "fed" in amr) and not second_factor))
        for at, amr in proofs
    )


def recently_authenticated(svc: Services, session: BrowserSession) -> bool:
    return is_recent(
        session,
        second_factor=has_second_factor(svc, session.user_id),
        now=int(svc.clock()),
        window=svc.settings.reauth_seconds,
    )


async def require_recent_auth(
    request: Request, svc: Services, session: BrowserSession, *, back_to: str = ACCOUNT
) -> Response | None:
    """None when the session authenticated recently enough for a sensitive change; otherwise the redirect
    to the re-authentication page, which comes back to `back_to` (a GET page: a POST cannot be replayed)."""
    if await run_sync(recently_authenticated, svc, session):
        return None
    return RedirectResponse(f"{REAUTH}?{urlencode({'next': safe_next(back_to)})}", status_code=303)


async def account_form(
    request: Request, *, sudo: str | None = None
) -> tuple[Services, BrowserSession, User, dict[str, str]] | Response:
    """The preamble of every account form: the form, its CSRF token, the session. `sudo`: the change
    needs a recent authentication; without one, the re-authentication page, then back to `sudo`."""
    page = await open_page(request, form=True)
    signed = await signed_in(request, page.svc)
    if isinstance(signed, Response):
        return signed
    if sudo is not None:
        gate = await require_recent_auth(request, page.svc, signed[0], back_to=sudo)
        if gate is not None:
            return gate
    return page.svc, signed[0], signed[1], page.form
