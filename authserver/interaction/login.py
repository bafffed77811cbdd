"""GET/POST /login: the hosted password step; then /mfa when the account has a second factor.
POST /login/passkey: the passwordless step (a passkey with user verification is both factors at once).

Unknown users, wrong passwords, disabled and locked accounts get one generic message and cost the
same argon2 verification (interaction/credentials.py: the one password check, through the one
throttle). A complete sign-in gives the browser the account's known-device cookie.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from authserver import logs
from authserver.concurrency import run_sync
from authserver.domain import ACR_MFA, ACR_PASSWORD, Authentication, User
from authserver.i18n import N_
from authserver.interaction import known_device, state
from authserver.interaction.credentials import (
    Guesser,
    PasswordCheck,
    Verdict,
    check_passkey,
    check_password,
    guesser,
    has_second_factor,
    passkey_amr,
)
from authserver.interaction.events import emit
from authserver.interaction.flow import advance, go_to
from authserver.interaction.page import SIGN_IN_PAGE, open_interaction
from authserver.interaction.sessions import SESSION, set_session_cookie, start_session_sync
from authserver.interaction.verify_email import remember_unverified
from authserver.services import Services
from authserver.web.cookies import attach_csrf, cookie_name, csrf_token
from authserver.web.pages import PageError

GENERIC_FAILURE = N_("Incorrect username or password.")
PASSKEY_FAILURE = N_("That passkey could not be used to sign in. Try again, or use your password.")
PASSKEY_THROTTLED = N_("Too many attempts. Wait a few minutes, then try again.")
MAX_LOGIN_LENGTH = 320


@dataclass(frozen=True)
class LoginAttempt:
    check: PasswordCheck
    user: User | None  # only when the password was right
    second_factor: bool


def verify_credentials(svc: Services, who: Guesser, login: str, password: str) -> LoginAttempt:
    user = svc.store.find_user(login) if 0 < len(login) <= MAX_LOGIN_LENGTH else None
    second = user is not None and has_second_factor(svc, user.id)
    # With a second factor to come, a right password is not yet a sign-in: it clears no failure count.
    check = check_password(svc, who, password, user=user, login=login, complete=not second)
    return LoginAttempt(check, user if check.verdict is Verdict.RIGHT else None, second)


def login_page(
    svc: Services, request: Request, it: state.Interaction, *, username: str, error: str | None, status: int = 200
) -> Response:
    client = svc.clients.get(it.client_id) if it.client_id else None
    upstreams = svc.store.list_upstreams()
    response = svc.pages.render(
        "login.html",
        {
            "interaction": it.id,
            "csrf_token": csrf_token(request, svc.settings),
            "username": username,
            "error": error,
            "client_name": client.name if client else "",
            "signup_open": svc.settings.signup == "open",
            "password_reset": svc.settings.password_reset,
            "upstreams": [{"name": u.name, "display_name": u.display_name} for u in upstreams],
        },
        status=status,
        # "Continue with ..." posts here and is redirected to the upstream: form-action covers that redirect.
        form_targets=[*it.form_targets, *(u.authorization_endpoint for u in upstreams)],
    )
    attach_csrf(request, response, svc.settings)
    return response


async def finish_sign_in(request: Request, svc: Services, it: state.Interaction, auth: Authentication) -> Response:
    """Both factors (or the only one) are done: a fresh session, then the next step of the flow."""
    if svc.settings.require_verified_email:
        user = await run_sync(svc.store.get_user, auth.user_id)
        if user is not None and not user.email_verified:
            # Proven who they are, but the address is not: no session until it is ("send it again").
            await remember_unverified(svc, it, user.id)
            await emit(
                svc, request, "login.refused", user_id=user.id, client_id=it.client_id, reason="email_unverified"
            )
            blocked = svc.pages.render(
                "verify_required.html",
                {"csrf_token": csrf_token(request, svc.settings), "interaction": it.id, "email": user.email},
                status=403,
            )
            attach_csrf(request, blocked, svc.settings)
            return blocked
    previous = request.cookies.get(cookie_name(svc.settings, SESSION))
    value, session = await run_sync(start_session_sync, svc, auth, previous)
    svc.metrics.logins.labels("success").inc()
    logs.bind(user_id=auth.user_id)
    await emit(
        svc,
        request,
        "login.succeeded",
        user_id=auth.user_id,
        client_id=it.client_id,
        amr=list(auth.amr),
        upstream=auth.upstream["name"] if auth.upstream else None,
    )
    it.signed_in(auth.user_id)
    try:
        response = await advance(request, svc, it, session, persisted=True)
    except PageError as exc:
        # The user is signed in even if this client refuses them (e.g. it needs a second factor they
        # have not set up): the page must carry the session cookie, or the session would be a phantom.
        response = svc.pages.error(exc)
    set_session_cookie(response, svc, value)
    known_device.remember(request, response, svc.settings, auth.user_id, int(svc.clock()))
    return response


async def login(request: Request) -> Response:
    # Every step may come back to the sign-in page (another account, the back button, after sign-up).
    opened = await open_interaction(request, SIGN_IN_PAGE)
    if isinstance(opened, Response):
        return opened
    page, it = opened
    svc, form = page.svc, page.form
    if not page.posted:
        return await run_sync(login_page, svc, request, it, username=it.login_hint or "", error=None)

    username = form.get("username", "").strip()
    who = guesser(request, svc)
    # Keyed by a keyed hash of the name as typed: the typed text (maybe a pasted password) is stored nowhere.
    typed = svc.throttle.account_key(None, username)
    await run_sync(svc.limits.hit_sign_in, who.source, typed)
    attempt = await run_sync(verify_credentials, svc, who, username, form.get("password", ""))
    account = attempt.check.account
    user = attempt.user
    if user is None:
        svc.metrics.logins.labels("failure").inc()
        it.login_failures += 1
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        await emit(
            svc,
            request,
            "login.failed",
            client_id=it.client_id,
            account=account,
            user_id=attempt.check.named,
            **({"throttled": True} if attempt.check.verdict is Verdict.THROTTLED else {}),
        )
        return await run_sync(login_page, svc, request, it, username=username, error=GENERIC_FAILURE, status=400)

    now = int(svc.clock())
    if attempt.second_factor:
        # Half signed in: nothing is granted until the second factor; the state lives in the interaction.
        it.await_second_factor(user.id, now)
        return await go_to(svc, it, state.Step.SECOND_FACTOR)
    auth = Authentication(user_id=user.id, auth_time=now, amr=("pwd",), acr=ACR_PASSWORD)
    return await finish_sign_in(request, svc, it, auth)


async def passkey_login(request: Request) -> Response:
    """POST /login/passkey: the response of navigator.credentials.get() (a discoverable credential, user
    verification required) for a challenge this sign-in asked for. Possession of the passkey plus the
    authenticator's PIN or biometric are two factors: amr e.g. ["hwk","user","pin","mfa"] (RFC 8176), acr
    urn:authserver:loa:2, so it satisfies clients that require a second factor and acr_values step-up."""
    opened = await open_interaction(request, SIGN_IN_PAGE, form=True)
    if isinstance(opened, Response):
        return opened
    page, it = opened
    svc, form = page.svc, page.form
    who = guesser(request, svc)
    await run_sync(svc.limits.hit, "login_ip", who.source)
    check = await run_sync(
        lambda: check_passkey(
            svc, who, form.get("credential", ""), purpose="sign-in", binding=it.id, require_verification=True
        )
    )
    if check.verdict is not Verdict.RIGHT or check.passkey is None or check.assertion is None:
        svc.metrics.logins.labels("failure").inc()
        throttled = check.verdict is Verdict.THROTTLED
        await emit(
            svc,
            request,
            "passkey.failed",
            where="sign-in",
            user_id=check.user_id,
            client_id=it.client_id,
            reason="throttled" if throttled else check.reason,
        )
        error = PASSKEY_THROTTLED if throttled else PASSKEY_FAILURE
        return await run_sync(login_page, svc, request, it, username="", error=error, status=429 if throttled else 400)
    passkey = check.passkey
    await emit(
        svc,
        request,
        "passkey.used",
        where="sign-in",
        user_id=passkey.user_id,
        client_id=it.client_id,
        credential=passkey.credential_id[:16],
    )
    amr = (*passkey_amr(passkey, check.assertion), "mfa")
    auth = Authentication(user_id=passkey.user_id, auth_time=int(svc.clock()), amr=amr, acr=ACR_MFA)
    return await finish_sign_in(request, svc, it, auth)
