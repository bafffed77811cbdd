"""Changing the account's email address: POST /account/email (sudo mode) sends a link to the new address;
GET/POST /account/email/confirm uses it. Nothing changes until the link is used; then the old address is
told. A new address that already belongs to another account gets the same answer on the page, and its
owner a notice instead of a link (the page must not reveal which addresses have accounts).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import User
from authserver.i18n import N_, Message
from authserver.interaction import links
from authserver.interaction.account import _page
from authserver.interaction.account_gate import ACCOUNT, account_form
from authserver.interaction.events import client_ip, emit
from authserver.interaction.page import open_page
from authserver.interaction.sessions import current_session
from authserver.manage import users as rules
from authserver.services import Services
from authserver.store import DuplicateError
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError

CONFIRM = "/account/email/confirm"


def _send(svc: Services, user: User, new: str, ip: str | None) -> bool:
    """Queue the link (or, for an address another account has, the notice); True if a link was sent."""
    svc.limits.hit("mail_ip", ip or "unknown")
    svc.limits.hit("mail_address", new)
    owner = svc.store.find_user(new)
    if owner is not None:
        svc.store.enqueue([svc.mail.compose("email_taken", new, sign_in=f"{svc.settings.issuer}/account")])
        return False
    token, link = links.new_link(user.id, links.EMAIL_CHANGE, new, svc.settings.verify_link_ttl, int(svc.clock()))
    message = svc.mail.compose(
        "email_change",
        new,
        name=user.name or user.username,
        username=user.username,
        link=links.url(svc.settings.issuer, CONFIRM, token),
        valid_for=svc.settings.verify_link_ttl,
    )
    svc.store.add_account_link(link, [message])
    return True


async def request_change(request: Request) -> Response:
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, session, user, form = posted
    new = form.get("email", "").strip()[: rules.MAX_EMAIL + 1]
    if rules.email_problem(new):
        return await _page(
            svc,
            request,
            session,
            user,
            error=N_("Enter an email address such as name@example.com."),
            field="new_email",
            status=400,
        )
    new = new.lower()
    if new == user.email:
        return await _page(
            svc, request, session, user, error=N_("That is already your email address."), field="new_email", status=400
        )
    sent = await run_sync(_send, svc, user, new, client_ip(request))
    svc.outbox.wake()
    await emit(svc, request, "email.change_requested", user_id=user.id, **({} if sent else {"address_taken": True}))
    notice = Message(
        N_("We sent a link to %(new)s. Your address changes when you open it; until then it stays %(old)s."),
        new=new,
        old=user.email,
    )
    return await _page(svc, request, session, user, notice=notice)


def _invalid() -> PageError:
    return PageError(
        N_(
            "This link has expired, was already used, or a newer one was "
            "sent since. Links in our emails work once, for a limited time. Ask for a new one on your account page."
        ),
        title=N_("Link expired"),
        status_code=400,
    )


async def confirm(request: Request) -> Response:
    page = await open_page(request)
    svc, form = page.svc, page.form
    if not page.posted:
        token = page.query.get("token") or ""
        digest = links.hashed(token)
        link = await run_sync(svc.store.get_account_link, digest) if digest else None
        if link is None or not links.live(link, links.EMAIL_CHANGE, int(svc.clock())):
            raise _invalid()
        response = svc.pages.render(
            "email_change.html", {"csrf_token": csrf_token(request, svc.settings), "token": token, "email": link.email}
        )
        attach_csrf(request, response, svc.settings)
        return response
    digest = links.hashed(form.get("token"))
    link = await run_sync(svc.store.get_account_link, digest) if digest else None
    before = await run_sync(svc.store.get_user, link.user_id) if link else None
    if digest is None or link is None or before is None or not links.live(link, links.EMAIL_CHANGE, int(svc.clock())):
        raise _invalid()
    notice = svc.mail.compose(
        "email_changed",
        before.email,
        name=before.name or before.username,
        new_email=link.email,
        forgot=f"{svc.settings.issuer}/password/forgot" if svc.settings.password_reset else None,
    )
    try:
        after = await run_sync(svc.store.change_email, digest, int(svc.clock()), [notice])
    except DuplicateError:
        raise PageError(
            N_("This address now belongs to another account, so it cannot become yours."), title=N_("Address taken")
        ) from None
    if after is None:
        raise _invalid()
    svc.outbox.wake()
    await emit(svc, request, "email.changed", user_id=after.id)
    session = await current_session(request, svc)
    signed_in = session is not None and session.user_id == after.id
    return svc.pages.render("email_verified.html", {"email": after.email, "signed_in": signed_in, "changed": True})
