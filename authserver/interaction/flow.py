"""The sign-in state machine: decide the next step of a pending authorization.

An authorization request runs its checks in order; the first that needs something shows its page
(`state.Step`), and the page calls `advance` again when it is done:
  sign_up_first        prompt=create and nobody signed in during this request -> /signup
  needs_login          no session, prompt=login, max_age exceeded, id_token_hint for someone else -> /login
  second_factor_first  the client or acr_values need a second factor the session has not proven -> /login
  consent_first        not first-party, scopes not yet granted, or prompt=consent -> /consent
  issue_code           a code (single use, 60 s) back to the client.
A device request goes to /login, then to /device/confirm; an account-page sign-in to /login, then back.
prompt=none never shows a page: it answers login_required / consent_required (OIDC Core §3.1.2.6).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver import i18n
from authserver.concurrency import run_sync
from authserver.domain import ACR_MFA, AuthCode, BrowserSession, Client
from authserver.i18n import N_, Message
from authserver.interaction import state
from authserver.interaction.credentials import has_second_factor
from authserver.interaction.events import emit
from authserver.interaction.respond import error_to_client, to_client
from authserver.oauth.claims import consent_scopes
from authserver.security.secrets import token_hash
from authserver.services import Services
from authserver.web.pages import PageError

EXPIRED = N_("This sign-in request has expired or was already used. Go back to the application and start again.")


def needs_login(it: state.Interaction, flow: state.AuthorizeFlow, session: BrowserSession | None, now: int) -> bool:
    if session is None:
        return True
    if it.authenticated_user == session.user_id:
        return False  # the user (re-)authenticated during this very request
    if flow.prompt & {"login", "select_account"}:
        return True
    # OIDC Core §3.1.2.1: max_age=0 is prompt=login; otherwise re-authenticate when older.
    if flow.max_age is not None and (flow.max_age == 0 or now - session.auth_time > flow.max_age):
        return True
    return bool(flow.hint_subject and flow.hint_subject != session.user_id)


def needs_step_up(client: Client, acr_values: Sequence[str] | None, session: BrowserSession) -> bool:
    """This client (or the request's acr_values) needs a second factor the session has not proven."""
    return (client.require_mfa or ACR_MFA in (acr_values or ())) and session.acr != ACR_MFA


async def require_enrolled_second_factor(svc: Services, client: Client, user_id: str) -> None:
    """A step-up can only ask for a factor the user has (an authenticator app or a passkey): without one,
    the client refuses them (403)."""
    if not await run_sync(has_second_factor, svc, user_id):
        raise PageError(
            Message(
                N_(
                    "%(app)s requires two-step verification or a passkey. Set one up on your account page, "
                    "then sign in to %(app)s again."
                ),
                app=client.name,
            ),
            title=N_("Two-step verification required"),
            status_code=403,
        )


PAGES = {
    state.Step.LOGIN: "/login",
    state.Step.SIGNUP: "/signup",
    state.Step.SECOND_FACTOR: "/mfa",
    state.Step.CONSENT: "/consent",
    state.Step.CONFIRM: "/device/confirm",
}


async def go_to(svc: Services, it: state.Interaction, step: state.Step, *, status: int = 303) -> Response:
    """Save the interaction at `step` and send the browser to that step's page."""
    it.step = step
    await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
    return RedirectResponse(f"{PAGES[step]}?" + urlencode({"interaction": it.id}), status_code=status)


@dataclass(frozen=True)
class Need:
    """What an authorization request needs before a code: a page, or (prompt=none) this error to the client."""

    step: state.Step
    error: str
    description: str


SIGN_UP = Need(state.Step.SIGNUP, "login_required", "The user must sign up")  # prompt=create excludes none
SIGN_IN = Need(state.Step.LOGIN, "login_required", "The user must sign in")
STEP_UP = Need(state.Step.LOGIN, "login_required", "A second factor is required")
CONSENT = Need(state.Step.CONSENT, "consent_required", "The user must approve access")


def sign_up_first(it: state.Interaction, flow: state.AuthorizeFlow) -> Need | None:
    # Registration §4: the sign-up page first; it links to sign-in, and either continues this request.
    return SIGN_UP if "create" in flow.prompt and it.authenticated_user is None else None


async def second_factor_first(
    svc: Services, it: state.Interaction, flow: state.AuthorizeFlow, client: Client, session: BrowserSession
) -> Need | None:
    if not needs_step_up(client, flow.acr_values, session):
        return None
    await require_enrolled_second_factor(svc, client, session.user_id)
    it.authenticated_user = None  # signed in, but not with both factors: sign in again
    return STEP_UP


async def consent_first(
    svc: Services, it: state.Interaction, flow: state.AuthorizeFlow, client: Client, session: BrowserSession
) -> Need | None:
    if client.first_party or it.consented:
        return None
    granted = await run_sync(svc.store.get_consent, session.user_id, client.client_id)
    if "consent" in flow.prompt or not consent_scopes(flow.scopes, flow.claims) <= granted:
        return CONSENT
    return None


async def advance(
    request: Request,
    svc: Services,
    it: state.Interaction,
    session: BrowserSession | None,
    *,
    persisted: bool,
    status: int = 303,
) -> Response:
    """The next page of the interaction, or its end (a code to the client, the account page, the device
    confirmation)."""
    flow = it.flow
    if isinstance(flow, state.AccountFlow):
        # Signing in to the account page itself: no client, no consent.
        if session is None:
            return await go_to(svc, it, state.Step.LOGIN, status=status)
        await run_sync(state.finish, svc.cache, it)
        return RedirectResponse(flow.next or "/account", status_code=status)
    if isinstance(flow, state.DeviceFlow):
        # After the login step of a device approval, the user confirms on the device page.
        return await go_to(svc, it, state.Step.LOGIN if session is None else state.Step.CONFIRM)
    return await _authorize(request, svc, it, flow, session, persisted=persisted, status=status)


async def _authorize(
    request: Request,
    svc: Services,
    it: state.Interaction,
    flow: state.AuthorizeFlow,
    session: BrowserSession | None,
    *,
    persisted: bool,
    status: int,
) -> Response:
    """The checks of an authorization request, in order; the first that needs something shows its page."""
    client = await run_sync(svc.clients.get, flow.client_id)
    if client is None or client.disabled:
        raise PageError(N_("The application that sent you here is no longer registered."))
    now = int(svc.clock())  # the code's created_at and expires_at, on the clock the token endpoint reads
    need = sign_up_first(it, flow)
    if need is None:
        if session is None or needs_login(it, flow, session, now):
            need = SIGN_IN
        else:
            need = await second_factor_first(svc, it, flow, client, session) or await consent_first(
                svc, it, flow, client, session
            )
            if need is None:
                if persisted and not await run_sync(state.finish, svc.cache, it):
                    raise PageError(EXPIRED, title=N_("Sign-in expired"))
                return await issue_code(request, svc, flow, client, session, now, status=status)
    if "none" in flow.prompt:
        # OIDC Core §3.1.2.6: prompt=none never shows a page.
        return error_to_client(
            svc, flow.redirect_uri, need.error, need.description, flow.state, flow.response_mode, status=status
        )
    return await go_to(svc, it, need.step, status=status)


async def issue_code(
    request: Request,
    svc: Services,
    flow: state.AuthorizeFlow,
    client: Client,
    session: BrowserSession,
    now: int,
    *,
    status: int,
) -> Response:
    """Every check passed: a single-use code back to the client (RFC 6749 §4.1.2)."""
    code = secrets.token_urlsafe(32)
    record = AuthCode(
        code_hash=token_hash(code),
        grant_id=secrets.token_urlsafe(16),
        client_id=client.client_id,
        user_id=session.user_id,
        redirect_uri=flow.redirect_uri,
        scope=" ".join(flow.scopes),
        nonce=flow.nonce,
        code_challenge=flow.code_challenge,
        code_challenge_method=flow.code_challenge_method,
        auth_time=session.auth_time,
        amr=session.amr,
        acr=session.acr,
        sid=session.sid,
        claims=flow.claims,
        resources=flow.resources,
        dpop_jkt=flow.dpop_jkt,
        created_at=now,
        expires_at=now + svc.settings.auth_code_ttl,
    )
    await run_sync(svc.store.add_code, record)
    await run_sync(svc.backchannel.signed_in, session, client, now)
    await emit(
        svc,
        request,
        "authorization_code.issued",
        client_id=client.client_id,
        user_id=session.user_id,
        grant_id=record.grant_id,
    )
    return to_client(svc, flow.redirect_uri, {"code": code, "state": flow.state}, flow.response_mode, status=status)


async def load_for_browser(
    request: Request, svc: Services, interaction_id: str | None, browser: str
) -> state.Interaction:
    it = await run_sync(state.load, svc.cache, interaction_id or "")
    if it is None:
        raise PageError(EXPIRED, title=N_("Sign-in expired"))
    # Every page of this sign-in in the languages the authorization request asked for (ui_locales).
    i18n.prefer(it.flow.ui_locales if isinstance(it.flow, state.AuthorizeFlow) else None)
    if not secrets.compare_digest(it.browser, browser):
        raise PageError(
            N_("This sign-in was started in another browser. Go back to the application and start again."),
            title=N_("Sign-in expired"),
        )
    return it
