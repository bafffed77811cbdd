"""GET/POST /login: the hosted password step; then /mfa when the account has a second factor.

Unknown users, wrong passwords, disabled and locked accounts get one generic message and cost the
same argon2 verification (verify_password hashes against a dummy when there is no user, and a locked
account is still verified, its result ignored).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import ACR_PASSWORD, Authentication, User
from authserver.interaction import state
from authserver.interaction.events import client_ip, emit
from authserver.interaction.flow import advance, load_for_browser
from authserver.interaction.sessions import SESSION, set_session_cookie, start_session_sync
from authserver.interaction.throttle import LoginThrottle
from authserver.security import passwords
from authserver.services import Services
from authserver.web.cookies import attach_csrf, browser_binding, check_csrf, cookie_name, csrf_token
from authserver.web.forms import read_form
from authserver.web.oauth_edge import services
from authserver.web.pages import PageError

GENERIC_FAILURE = "Incorrect username or password."
MAX_LOGIN_LENGTH = 320


def verify_credentials(svc: Services, login: str, password: str, ip: str | None) -> tuple[User | None, str, str | None]:
    """(user, throttle key, id of the account named). The user only if the password is right and
    nothing forbids the login; the id (for the audit trail only) whenever the account exists."""
    user = svc.store.find_user(login) if 0 < len(login) <= MAX_LOGIN_LENGTH else None
    throttle = LoginThrottle(svc.cache, svc.settings, svc.events)
    account = throttle.account_key(user.id if user else None, login)
    locked = throttle.locked(account, ip)
    # Over-long passwords are refused without hashing: argon2 cost must not be attacker-controlled.
    candidate = password if len(password) <= passwords.MAX_LENGTH * 4 else ""
    ok, new_hash = passwords.verify_password(candidate, user.password_hash if user else None)
    if locked or not ok or user is None or user.disabled or not candidate:
        if not locked:
            throttle.failure(account, ip, user_id=user.id if user else None)
        return None, account, user.id if user else None
    if new_hash:
        svc.store.set_password_hash(user.id, new_hash)  # parameters changed since it was stored
    return user, account, user.id


def has_second_factor(svc: Services, user_id: str) -> bool:
    factor = svc.store.get_totp(user_id)
    return factor is not None and factor.confirmed_at is not None


def login_page(svc: Services, request: Request, it: state.Interaction, *, username: str, error: str | None,
               status: int = 200) -> Response:
    client = svc.clients.get(it.client_id) if it.client_id else None
    response = svc.pages.render(
        "login.html",
        {
            "interaction": it.id,
            "csrf_token": csrf_token(request, svc.settings),
            "username": username,
            "error": error,
            "client_name": client.name if client else "",
        },
        status=status,
        form_targets=[it.request["redirect_uri"]] if "redirect_uri" in it.request else (),
    )
    attach_csrf(request, response, svc.settings)
    return response


async def finish_sign_in(request: Request, svc: Services, it: state.Interaction, auth: Authentication) -> Response:
    """Both factors (or the only one) are done: a fresh session, then the next step of the flow."""
    previous = request.cookies.get(cookie_name(svc.settings, SESSION))
    value, session = await run_sync(start_session_sync, svc, auth, previous)
    svc.metrics.logins.labels("success").inc()
    structlog.contextvars.bind_contextvars(user_id=auth.user_id)
    await emit(svc, request, "login.succeeded", user_id=auth.user_id, client_id=it.client_id, amr=list(auth.amr))
    it.authenticated_user = auth.user_id
    it.extra.pop("mfa", None)
    try:
        response = await advance(request, svc, it, session, persisted=True)
    except PageError as exc:
        # The user is signed in even if this client refuses them (e.g. it needs a second factor they
        # have not set up): the page must carry the session cookie, or the session would be a phantom.
        response = svc.pages.error(exc)
    set_session_cookie(response, svc, value)
    return response


async def login(request: Request) -> Response:
    svc = services(request)
    browser = browser_binding(csrf_token(request, svc.settings))
    if request.method == "GET":
        it = await load_for_browser(request, svc, request.query_params.get("interaction"), browser)
        return await run_sync(login_page, svc, request, it, username=it.request.get("login_hint") or "", error=None)

    form = dict(await read_form(request, svc.settings.max_body_bytes))
    check_csrf(request, svc.settings, form)
    it = await load_for_browser(request, svc, form.get("interaction"), browser)
    username = form.get("username", "").strip()
    await run_sync(lambda: (svc.limits.hit("login_ip", client_ip(request) or "unknown"),
                            svc.limits.hit("login_account", username.lower()[:MAX_LOGIN_LENGTH])))
    user, account, named = await run_sync(
        verify_credentials, svc, username, form.get("password", ""), client_ip(request)
    )
    if user is None:
        svc.metrics.logins.labels("failure").inc()
        it.login_failures += 1
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        await emit(svc, request, "login.failed", client_id=it.client_id, account=account, user_id=named)
        return await run_sync(login_page, svc, request, it, username=username, error=GENERIC_FAILURE, status=400)

    now = int(time.time())
    if await run_sync(has_second_factor, svc, user.id):
        # Half signed in: nothing is granted until the second factor; the state lives in the interaction.
        it.extra["mfa"] = {"user_id": user.id, "pwd_time": now, "failures": 0, "account": account}
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        return RedirectResponse("/mfa?" + urlencode({"interaction": it.id}), status_code=303)
    await run_sync(LoginThrottle(svc.cache, svc.settings, svc.events).success, account)
    auth = Authentication(user_id=user.id, auth_time=now, amr=("pwd",), acr=ACR_PASSWORD)
    return await finish_sign_in(request, svc, it, auth)
