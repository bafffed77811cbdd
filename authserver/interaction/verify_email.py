"""Email verification: GET /email/verify?token=... shows a button, POST /email/verify uses the link;
POST /email/verify/resend sends a new link (voiding the older ones).

A new link is asked for by the signed-in user (the account page), or by someone who has just proven the
password of an unverified account when AUTHSERVER_REQUIRE_VERIFIED_EMAIL blocks their sign-in (the
pending sign-in remembers whom). `email_verified` becomes true only through such a link.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import User
from authserver.i18n import N_
from authserver.interaction import links, state
from authserver.interaction.events import client_ip, emit
from authserver.interaction.page import VERIFY_EMAIL_PAGE, load_interaction, open_page
from authserver.interaction.sessions import current_session
from authserver.services import Services, services
from authserver.web.addresses import source_key
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError

EXPIRED_TITLE = N_("Link expired")


def _invalid() -> PageError:
    return PageError(
        N_(
            "This link has expired, was already used, or a newer one was "
            "sent since. Links in our emails work once, for a limited time. Sign in and ask for a new one from your account page."
        ),
        title=EXPIRED_TITLE,
        status_code=400,
    )


async def verify(request: Request) -> Response:
    page = await open_page(request)
    svc, form = page.svc, page.form
    if not page.posted:
        token = page.query.get("token")
        digest = links.hashed(token)
        link = await run_sync(svc.store.get_account_link, digest) if digest else None
        if link is None or not links.live(link, links.VERIFY, int(svc.clock())):
            raise _invalid()
        response = svc.pages.render(
            "verify_email.html", {"csrf_token": csrf_token(request, svc.settings), "token": token, "email": link.email}
        )
        attach_csrf(request, response, svc.settings)
        return response
    digest = links.hashed(form.get("token"))
    user = await run_sync(svc.store.verify_email, digest, int(svc.clock())) if digest else None
    if user is None or not user.email_verified:
        await emit(svc, request, "email.verification_failed", user_id=user.id if user else None)
        raise _invalid()
    await emit(svc, request, "email.verified", user_id=user.id, email=user.email)
    session = await current_session(request, svc)
    return svc.pages.render("email_verified.html", {"email": user.email, "signed_in": session is not None})


def send_verification(svc: Services, user: User, ip: str | None) -> None:
    """A new verification link for the user's current address (blocking; rate-limited per address)."""
    from authserver.interaction.signup import verification_message

    svc.limits.hit("mail_ip", source_key(ip))
    svc.limits.hit("mail_address", user.email)
    token, link = links.new_link(user.id, links.VERIFY, user.email, svc.settings.verify_link_ttl, int(svc.clock()))
    svc.store.add_account_link(link, [verification_message(svc, user, token)])


async def resend(request: Request) -> Response:
    svc = services(request)
    page = await open_page(request, form=True)
    form = page.form
    user_id = None
    if form.get("interaction"):
        it = await load_interaction(request, svc, form.get("interaction"), page.browser, VERIFY_EMAIL_PAGE)
        user_id = it.unverified_user
    else:
        session = await current_session(request, svc)
        user_id = session.user_id if session else None
    user = await run_sync(svc.store.get_user, user_id) if user_id else None
    if user is None:
        raise PageError(N_("Sign in first, then ask for a new link."), title=N_("Sign in first"), status_code=400)
    if user.email_verified:
        return svc.pages.render("email_verified.html", {"email": user.email, "signed_in": not form.get("interaction")})
    await run_sync(send_verification, svc, user, client_ip(request))
    svc.outbox.wake()
    await emit(svc, request, "email.verification_sent", user_id=user.id)
    response = svc.pages.render(
        "check_email.html",
        {
            "email": user.email,
            "continue_url": "/account" if not form.get("interaction") else None,
            "interaction": bool(form.get("interaction")),
        },
    )
    attach_csrf(request, response, svc.settings)
    return response


async def remember_unverified(svc: Services, it: state.Interaction, user_id: str) -> None:
    it.await_verified_email(user_id)
    await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
