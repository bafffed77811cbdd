"""Password reset: GET/POST /password/forgot asks for a link, GET/POST /password/reset uses it.

No account enumeration: /password/forgot answers the same page, after the same work (one outbox row), for
every well-formed address; whether an account has it is decided later by the delivery loop, which then
writes the reset link and its email (or nothing). Links are single use, expire after `reset_link_ttl`,
are superseded by a newer one, and die with any password change. An account with a second factor must
also give a code (a backup code works) or use one of its passkeys on the reset page: the inbox alone must
not take it over. A reset
ends every session, revokes every refresh-token family (offline ones too) and tells the user by email.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver import i18n
from authserver.concurrency import run_sync
from authserver.domain import AccountLink, User
from authserver.i18n import N_
from authserver.interaction import links
from authserver.interaction.credentials import (
    Factors,
    Verdict,
    check_passkey,
    check_second_factor,
    guesser,
    second_factors,
)
from authserver.interaction.events import client_ip, emit, who
from authserver.interaction.page import open_page
from authserver.interaction.sessions import clear_session_cookie, end_session_sync
from authserver.manage import users as rules
from authserver.security import passwords
from authserver.services import Services, services
from authserver.web.addresses import source_key
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError

FORGOT = "/password/forgot"
RESET = "/password/reset"
# The outbox kind of a reset request: resolved to a link (or nothing) by the delivery loop.
REQUEST_KIND = "password_reset_request"
TOO_MANY = N_("Too many wrong codes. Wait a few minutes, then try again.")


def require_enabled(svc: Services) -> None:
    if not svc.settings.password_reset:
        raise PageError(
            N_("Password reset by email is turned off here. Ask the people who run this site for help."),
            status_code=404,
            title=N_("Password reset is off"),
        )


def _render(svc: Services, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response = svc.pages.render(template, {"csrf_token": csrf_token(request, svc.settings), **context}, status=status)
    attach_csrf(request, response, svc.settings)
    return response


async def forgot(request: Request) -> Response:
    require_enabled(services(request))
    page = await open_page(request)
    svc, form = page.svc, page.form
    if not page.posted:
        return _render(svc, request, "forgot.html", {"email": "", "error": None})
    email = form.get("email", "").strip()[: rules.MAX_EMAIL + 1]
    if rules.email_problem(email):
        error = N_("Enter the email address of your account, such as name@example.com.")
        return _render(svc, request, "forgot.html", {"email": email, "error": error}, status=400)
    email = email.lower()
    # The message is written later, by the handler below: in the language of this request.
    payload = {"email": email, "language": svc.pages.catalogs.language(), **who(request)}
    job = svc.outbox.message(REQUEST_KIND, email, "password reset requested", payload)

    def queue() -> None:
        svc.limits.hit("mail_ip", source_key(client_ip(request)))
        svc.limits.hit("mail_address", email)
        svc.store.enqueue([job])

    await run_sync(queue)
    svc.outbox.wake()
    return _render(svc, request, "reset_sent.html", {"email": email})


def reset_request_handler(svc: Services) -> Callable[[dict[str, Any]], None]:
    """The delivery loop's handler for REQUEST_KIND: a reset link and its email, if the address has an
    account that may sign in; otherwise nothing (the audit trail notes the request either way)."""

    def handle(payload: dict[str, Any]) -> None:
        email = str(payload.get("email", ""))
        seen = {"ip": payload.get("ip"), "user_agent": payload.get("user_agent")}
        user = svc.store.find_user(email) if "@" in email else None
        if user is None or user.disabled or user.email != email:
            svc.events.emit("password.reset_requested", found=False, **seen)
            return
        token, link = links.new_link(user.id, links.RESET, user.email, svc.settings.reset_link_ttl, int(svc.clock()))
        with i18n.speaking(str(payload.get("language") or "")):
            message = svc.mail.compose(
                "reset",
                user.email,
                name=user.name or user.username,
                username=user.username,
                link=links.url(svc.settings.issuer, RESET, token),
                valid_for=svc.settings.reset_link_ttl,
            )
        svc.store.add_account_link(link, [message])
        svc.outbox.wake()
        svc.events.emit("password.reset_requested", user_id=user.id, found=True, **seen)

    return handle


def _invalid() -> PageError:
    return PageError(
        N_(
            "This link has expired, was already used, or a newer one was "
            "sent since. Links in our emails work once, for a limited time. Ask for a new one on the “Forgot your password?” page (/password/forgot)."
        ),
        title=N_("Link expired"),
        status_code=400,
    )


def _live_link(svc: Services, token: str | None) -> tuple[AccountLink, User] | None:
    digest = links.hashed(token)
    link = svc.store.get_account_link(digest) if digest else None
    if link is None or not links.live(link, links.RESET, int(svc.clock())):
        return None
    user = svc.store.get_user(link.user_id)
    if user is None or user.disabled:
        return None
    return link, user


def _page(
    svc: Services,
    request: Request,
    token: str,
    user: User,
    mfa: Factors,
    error: str | None = None,
    status: int = 200,
    *,
    field: str = "password",
) -> Response:
    """The reset page; `field`: the input an error is about ("password" or "code"), which points at it."""
    context = {
        "error_field": field if error else "",
        "token": token,
        "username": user.username,
        "mfa": mfa.any,
        "totp": mfa.totp,
        "passkeys": mfa.passkeys > 0,
        "error": error,
        "min_length": passwords.MIN_LENGTH,
    }
    return _render(svc, request, "reset.html", context, status)


def _apply(svc: Services, user: User, digest: str, new_password: str) -> tuple[int, int] | None:
    """Set the password through the link, then end every session and revoke every grant (blocking)."""
    notice = svc.mail.compose(
        "password_changed",
        user.email,
        name=user.name or user.username,
        forgot=svc.settings.issuer + FORGOT,
    )
    now = int(svc.clock())
    if svc.store.reset_password(digest, now, svc.passwords.hash(new_password), [notice]) is None:
        return None
    sessions = svc.store.list_user_sessions(user.id)
    for session in sessions:
        end_session_sync(svc, session, reason="password_reset")
    return len(sessions), svc.server.tokens.revoke_user_grants(user.id, reason="password_reset")


async def reset(request: Request) -> Response:
    require_enabled(services(request))
    page = await open_page(request)
    svc, form = page.svc, page.form
    if not page.posted:
        token = page.query.get("token") or ""
        found = await run_sync(_live_link, svc, token)
        if found is None:
            raise _invalid()
        return _page(svc, request, token, found[1], await run_sync(second_factors, svc, found[1].id))

    token = form.get("token", "")
    found = await run_sync(_live_link, svc, token)
    digest = links.hashed(token)
    if found is None or digest is None:
        await emit(svc, request, "password.reset_failed", reason="link")
        raise _invalid()
    user = found[1]
    mfa = await run_sync(second_factors, svc, user.id)
    new = form.get("password", "")
    problem = rules.password_problem(new[: passwords.MAX_LENGTH + 1], username=user.username, email=user.email)
    if problem:
        return _page(svc, request, token, user, mfa, problem[0].upper() + problem[1:] + ".", status=400)
    if mfa.any and form.get("credential"):
        # One of the account's passkeys instead of a code: a challenge bound to this link.
        key = await run_sync(
            lambda: check_passkey(
                svc,
                guesser(request, svc),
                form.get("credential", ""),
                purpose="reset",
                binding=digest,
                user_id=user.id,
                require_verification=False,
            )
        )
        if key.verdict is Verdict.THROTTLED:
            return _page(svc, request, token, user, mfa, TOO_MANY, status=429, field="")
        if key.verdict is Verdict.WRONG:
            await emit(svc, request, "passkey.failed", user_id=user.id, where="password-reset", reason=key.reason)
            await emit(svc, request, "password.reset_failed", user_id=user.id, reason="passkey")
            error = N_("That passkey could not be used. Try again, or use another of your passkeys.")
            return _page(svc, request, token, user, mfa, error, status=400, field="")
        await emit(svc, request, "passkey.used", user_id=user.id, where="password-reset")
    elif mfa.any:
        check = await run_sync(lambda: check_second_factor(svc, guesser(request, svc), user.id, form.get("code", "")))
        if check.verdict is Verdict.THROTTLED:
            return _page(svc, request, token, user, mfa, TOO_MANY, status=429, field="")
        if check.verdict is Verdict.WRONG:
            await emit(svc, request, "password.reset_failed", user_id=user.id, reason="code")
            error = (
                N_("That code is not right. Enter a current code from your app, or a backup code.")
                if mfa.totp
                else N_("Confirm with one of your passkeys.")
            )
            return _page(svc, request, token, user, mfa, error, status=400, field="code" if mfa.totp else "")
    done = await run_sync(_apply, svc, user, digest, new)
    if done is None:
        await emit(svc, request, "password.reset_failed", user_id=user.id, reason="link")
        raise _invalid()
    svc.outbox.wake()
    await emit(svc, request, "password.reset", user_id=user.id, sessions_ended=done[0], grants_revoked=done[1])
    response = svc.pages.render("reset_done.html", {})
    clear_session_cookie(response, svc)
    return response
