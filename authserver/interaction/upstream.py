"""Sign in with another identity provider ("Continue with NAME"), and connect or disconnect one on /account.

POST /login/upstream                 the button on the login page: the pending authorization stays where
                                     it is (its id travels in our pending upstream sign-in), the browser
                                     goes to the upstream with code + PKCE + state + nonce.
GET  /login/upstream/NAME/callback   its answer, checked in this order: our state (single use, this
                                     browser), the upstream it was sent to is NAME (one redirect URI per
                                     upstream), RFC 9207 `iss`, an error (back to our login page, never to
                                     the app), the code exchanged and the ID token validated
                                     (upstream/signin.py), the local account (upstream/accounts.py).
POST /account/upstreams/connect      sudo: link an upstream account to the signed-in one (same callback).
POST /account/upstreams/disconnect   sudo: unlink it, never the account's last way to sign in.
POST /account/reauth/upstream        "Confirm it's you" through a connected upstream (sudo mode for an
                                     account without a password): the upstream must answer with the very
                                     account that is linked to the signed-in one.

An upstream that is down or answers nonsense gives the login page again with a message: the password
and passkeys keep working. Audit: upstream.signin, upstream.linked, upstream.unlinked, upstream.failed.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import ACR_MFA, ACR_PASSWORD, Authentication, Upstream
from authserver.i18n import N_, Message
from authserver.interaction import state
from authserver.interaction.account_gate import ACCOUNT, account_form, safe_next, signed_in
from authserver.interaction.credentials import guesser, has_second_factor
from authserver.interaction.events import emit
from authserver.interaction.flow import EXPIRED, go_to
from authserver.interaction.login import finish_sign_in, login_page
from authserver.interaction.page import SIGN_IN_PAGE, load_interaction, open_interaction, open_page
from authserver.interaction.sessions import current_session
from authserver.services import Services
from authserver.store import Removal
from authserver.upstream.accounts import Refused, link_to, signed_in_user
from authserver.upstream.signin import Pending, UpstreamFailure
from authserver.web.cookies import attach_csrf, browser_binding, csrf_token
from authserver.web.pages import PageError

SIGN_IN = "sign-in"
LINK = "link"
REAUTH = "reauth"
CANCELLED = N_("Signing in with %(name)s was cancelled. Sign in another way, or try again.")
FAILED = N_("%(name)s could not sign you in. Sign in another way, or try again.")
UNREACHABLE = N_("%(name)s cannot be reached right now. Sign in another way, or try again later.")
LAST_WAY_IN = N_(
    "This is the last way you can sign in to your account, so it cannot be disconnected. "
    "Set a password, add a passkey or connect another provider first."
)
EXPIRED_UPSTREAM = N_("This sign-in has expired or was already used. Go back to the application and start again.")


async def _upstream(svc: Services, name: str) -> Upstream:
    upstream = await run_sync(svc.store.get_upstream, name[:40]) if name else None
    if upstream is None:
        raise PageError(N_("That sign-in option is not available."), status_code=404, title=N_("Not available"))
    return upstream


async def start(request: Request) -> Response:
    """POST /login/upstream: leave for the upstream, keeping the pending authorization."""
    opened = await open_interaction(request, SIGN_IN_PAGE)  # a button of the sign-in and sign-up pages
    if isinstance(opened, Response):
        return opened
    page, it = opened
    svc = page.svc
    # Each press stores a pending sign-in in the shared cache: counted like sign-in attempts per address.
    await run_sync(svc.limits.hit, "login_ip", guesser(request, svc).source)
    upstream = await _upstream(svc, page.form.get("upstream", ""))
    url = await run_sync(
        lambda: svc.federation.begin(
            upstream, purpose=SIGN_IN, browser=page.browser, interaction=it.id, now=int(svc.clock())
        )
    )
    return RedirectResponse(url, status_code=303)


async def connect(request: Request) -> Response:
    """POST /account/upstreams/connect (a sudo action): link another provider's account to this one."""
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, _, user, form = posted
    upstream = await _upstream(svc, form.get("upstream", ""))
    browser = browser_binding(csrf_token(request, svc.settings))
    url = await run_sync(
        lambda: svc.federation.begin(upstream, purpose=LINK, browser=browser, user_id=user.id, now=int(svc.clock()))
    )
    return RedirectResponse(url, status_code=303)


async def reauth(request: Request) -> Response:
    """POST /account/reauth/upstream: confirm it's you by signing in again at a connected upstream."""
    page = await open_page(request, form=True)
    svc, form = page.svc, page.form
    back_to = safe_next(form.get("next"))
    signed = await signed_in(request, svc, back_to=back_to)
    if isinstance(signed, Response):
        return signed
    _, user = signed
    upstream = await _upstream(svc, form.get("upstream", ""))
    linked = await run_sync(svc.store.list_upstream_identities, user.id)
    if upstream.name not in {i.upstream for i in linked}:
        raise PageError(
            N_("That provider is not connected to your account."), status_code=404, title=N_("Not connected")
        )
    url = await run_sync(
        lambda: svc.federation.begin(
            upstream, purpose=REAUTH, browser=page.browser, user_id=user.id, next_page=back_to, now=int(svc.clock())
        )
    )
    return RedirectResponse(url, status_code=303)


async def disconnect(request: Request) -> Response:
    """POST /account/upstreams/disconnect (a sudo action)."""
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, _, user, form = posted
    name = form.get("upstream", "")[:40]
    outcome = await run_sync(lambda: svc.store.delete_upstream_identity(user.id, name, keep_a_way_in=True))
    if outcome is Removal.NOT_FOUND:
        raise PageError(
            N_("That provider is not connected to your account."), status_code=404, title=N_("Not connected")
        )
    if outcome is Removal.LAST_WAY_IN:
        await emit(svc, request, "upstream.unlink_refused", user_id=user.id, upstream=name, reason="last_way_in")
        raise PageError(LAST_WAY_IN, status_code=409, title=N_("Not disconnected"))
    await emit(svc, request, "upstream.unlinked", user_id=user.id, upstream=name, by="user")
    return RedirectResponse(f"{ACCOUNT}?done=upstream-unlinked", status_code=303)


def _leave_the_chain(svc: Services, response: Response) -> Response:
    """A redirect from here to another site becomes a page that goes on by itself (a Refresh header, and a
    link). This answer is part of a redirect chain that began with a form posted on the upstream's login
    page, and CSP 3 lets browsers check every redirect of such a chain against that page's form-action,
    which lists the upstream and us, never the application: a browser that does would stop the code on its
    way to the application. A page ends the chain; the navigation it starts is not a form submission."""
    location = response.headers.get("location", "")
    if (
        response.status_code not in (302, 303)
        or location.startswith("/")
        or location.startswith(svc.settings.issuer + "/")
    ):
        return response
    page = svc.pages.render("continue.html", {"location": location})
    page.headers["refresh"] = f"0; url={location}"
    for name, value in response.raw_headers:
        if name == b"set-cookie":
            page.raw_headers.append((name, value))  # the session and known-device cookies of the sign-in
    return page


async def _failed(
    request: Request, svc: Services, pending: Pending, upstream: Upstream, *, reason: str, message: str, status: int
) -> Response:
    """Back where the person came from, with the message: the login page of the same pending authorization
    (its other ways to sign in still work), or the account page."""
    await emit(
        svc,
        request,
        "upstream.failed",
        upstream=upstream.name,
        purpose=pending.purpose,
        reason=reason[:300],
        user_id=pending.user_id,
    )
    if pending.purpose == LINK:
        raise PageError(
            message, status_code=status, title=Message(N_("%(name)s not connected"), name=upstream.display_name)
        )
    if pending.purpose == REAUTH:
        raise PageError(message, status_code=status, title=N_("Not confirmed"))
    it = await run_sync(state.load, svc.cache, pending.interaction or "")
    if it is None:
        raise PageError(
            Message("%(what)s %(then)s", what=message, then=Message(EXPIRED)),
            status_code=status,
            title=N_("Sign-in failed"),
        )
    response = await run_sync(lambda: login_page(svc, request, it, username="", error=message, status=status))
    return response


async def callback(request: Request) -> Response:
    """GET /login/upstream/NAME/callback: the upstream's answer (RFC 6749 §4.1.2, RFC 9207)."""
    page = await open_page(request)
    svc, params, browser = page.svc, page.query, page.browser
    name = request.path_params["name"]
    pending = await run_sync(svc.federation.take, params.get("state", ""))
    if pending is None or not secrets.compare_digest(pending.browser, browser):
        await emit(svc, request, "upstream.failed", upstream=name[:40], reason="state")
        raise PageError(EXPIRED_UPSTREAM, title=N_("Sign-in expired"))
    upstream = await run_sync(svc.store.get_upstream, pending.upstream)
    if upstream is None:
        raise PageError(
            N_("That sign-in option is not available any more."), status_code=404, title=N_("Not available")
        )
    failed_page = Message(FAILED, name=upstream.display_name)
    # Mix-up defence (RFC 9700 §4.4): the answer must come back to the redirect URI of the upstream this
    # sign-in went to, and name that upstream as its issuer when upstreams say who they are (RFC 9207).
    if name != upstream.name:
        return await _failed(
            request, svc, pending, upstream, reason="mix_up: wrong redirect URI", message=failed_page, status=400
        )
    iss = params.get("iss")
    if (iss is not None and iss != upstream.issuer) or (iss is None and upstream.iss_parameter_supported):
        return await _failed(
            request, svc, pending, upstream, reason=f"mix_up: iss {iss!r}", message=failed_page, status=400
        )
    if "error" in params:
        error = params["error"][:100]
        message = Message(CANCELLED if error == "access_denied" else FAILED, name=upstream.display_name)
        return await _failed(request, svc, pending, upstream, reason=f"error: {error}", message=message, status=400)
    code = params.get("code", "")
    if not code or len(code) > 2000:
        return await _failed(request, svc, pending, upstream, reason="no code", message=failed_page, status=400)

    now = int(svc.clock())
    try:
        asserted = await run_sync(lambda: svc.federation.complete(upstream, pending, code, now=now))
    except UpstreamFailure as exc:
        unreachable = Message(UNREACHABLE, name=upstream.display_name)
        return await _failed(
            request,
            svc,
            pending,
            upstream,
            reason=exc.reason,
            message=unreachable if exc.unreachable else failed_page,
            status=502 if exc.unreachable else 400,
        )

    if pending.purpose == REAUTH:
        session = await current_session(request, svc)
        if session is None or session.user_id != pending.user_id:
            raise PageError(N_("Sign in to your account again."), title=N_("Not confirmed"))
        identity = await run_sync(svc.store.get_upstream_identity, upstream.name, asserted.subject)
        if identity is None or identity.user_id != session.user_id:
            return await _failed(
                request,
                svc,
                pending,
                upstream,
                reason="not_the_linked_account",
                message=Message(
                    N_("That %(name)s account is not the one connected to your account."), name=upstream.display_name
                ),
                status=403,
            )
        amr = ("fed", "mfa") if asserted.multi_factor(upstream) else ("fed",)
        await run_sync(svc.store.mark_reauthenticated, session.id_hash, now, amr)
        await emit(svc, request, "reauthentication.succeeded", user_id=session.user_id, sid=session.sid, amr=list(amr))
        back = safe_next(pending.next)
        return RedirectResponse(back if back != ACCOUNT else ACCOUNT + "?done=confirmed", status_code=303)

    if pending.purpose == LINK:
        session = await current_session(request, svc)
        if session is None or session.user_id != pending.user_id or pending.user_id is None:
            raise PageError(N_("Sign in to your account again, then connect the provider."), title=N_("Not connected"))
        user_id = pending.user_id
        try:
            resolved = await run_sync(lambda: link_to(svc.store, upstream, asserted, user_id, now))
        except Refused as exc:
            return await _failed(request, svc, pending, upstream, reason=exc.reason, message=exc.message, status=409)
        if resolved.linked:
            await emit(svc, request, "upstream.linked", user_id=user_id, upstream=upstream.name, by="user")
        return RedirectResponse(f"{ACCOUNT}?done=upstream-linked", status_code=303)

    # The sign-in the upstream button (SIGN_IN_PAGE) started: checked again, it may have moved on meanwhile.
    it = await load_interaction(request, svc, pending.interaction, browser, SIGN_IN_PAGE)
    try:
        resolved = await run_sync(lambda: signed_in_user(svc.store, upstream, asserted, now))
    except Refused as exc:
        return await _failed(request, svc, pending, upstream, reason=exc.reason, message=exc.message, status=403)
    user = resolved.user
    if resolved.created:
        await emit(svc, request, "user.registered", user_id=user.id, client_id=it.client_id, upstream=upstream.name)
    if resolved.linked:
        await emit(
            svc,
            request,
            "upstream.linked",
            user_id=user.id,
            upstream=upstream.name,
            by="email" if not resolved.created else "signup",
        )
    await emit(
        svc,
        request,
        "upstream.signin",
        user_id=user.id,
        client_id=it.client_id,
        upstream=upstream.name,
        upstream_acr=asserted.acr,
        upstream_amr=list(asserted.amr),
    )
    said = {"name": upstream.name, "acr": asserted.acr, "amr": list(asserted.amr)}
    if asserted.multi_factor(upstream):
        auth = Authentication(user_id=user.id, auth_time=now, amr=("fed", "mfa"), acr=ACR_MFA, upstream=said)
        return _leave_the_chain(svc, await finish_sign_in(request, svc, it, auth))
    if await run_sync(has_second_factor, svc, user.id):
        # An upstream not trusted for two factors does not skip this account's own second factor.
        it.await_second_factor(user.id, now, first=("fed",), upstream=said)
        response = await go_to(svc, it, state.Step.SECOND_FACTOR)
        attach_csrf(request, response, svc.settings)
        return response
    auth = Authentication(user_id=user.id, auth_time=now, amr=("fed",), acr=ACR_PASSWORD, upstream=said)
    return _leave_the_chain(svc, await finish_sign_in(request, svc, it, auth))
