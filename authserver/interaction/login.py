"""GET/POST /login: the hosted password step of a pending authorization.

Unknown users, wrong passwords and disabled accounts get one generic message and cost the same
argon2 verification (passwords.verify_password hashes against a dummy when there is no user).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import ACR_PASSWORD, Authentication, User
from authserver.interaction import state
from authserver.interaction.flow import advance, load_for_browser
from authserver.interaction.sessions import SESSION, set_session_cookie, start_session_sync
from authserver.security import passwords
from authserver.services import Services
from authserver.web.cookies import attach_csrf, browser_binding, check_csrf, cookie_name, csrf_token
from authserver.web.forms import read_form
from authserver.web.oauth_edge import services

GENERIC_FAILURE = "Incorrect username or password."
MAX_LOGIN_LENGTH = 320


def verify_credentials(svc: Services, login: str, password: str) -> User | None:
    user = svc.store.find_user(login) if 0 < len(login) <= MAX_LOGIN_LENGTH else None
    # Over-long passwords are refused without hashing: argon2 cost must not be attacker-controlled.
    candidate = password if len(password) <= passwords.MAX_LENGTH * 4 else ""
    ok, new_hash = passwords.verify_password(candidate, user.password_hash if user else None)
    if not ok or user is None or user.disabled or not candidate:
        return None
    if new_hash:
        svc.store.set_password_hash(user.id, new_hash)  # parameters changed since it was stored
    return user


def _page(svc: Services, request: Request, it: state.Interaction, *, username: str, error: str | None,
          status: int = 200) -> Response:
    client = svc.clients.get(it.client_id)
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


async def login(request: Request) -> Response:
    svc = services(request)
    browser = browser_binding(csrf_token(request, svc.settings))
    if request.method == "GET":
        it = await load_for_browser(request, svc, request.query_params.get("interaction"), browser)
        return await run_sync(_page, svc, request, it, username=it.request.get("login_hint") or "", error=None)

    form = dict(await read_form(request, svc.settings.max_body_bytes))
    check_csrf(request, svc.settings, form)
    it = await load_for_browser(request, svc, form.get("interaction"), browser)
    username = form.get("username", "").strip()
    user = await run_sync(verify_credentials, svc, username, form.get("password", ""))
    if user is None:
        it.login_failures += 1
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        svc.events.emit("login.failed", client_id=it.client_id, ip=request.client.host if request.client else None)
        return await run_sync(_page, svc, request, it, username=username, error=GENERIC_FAILURE, status=400)

    auth = Authentication(user_id=user.id, auth_time=int(time.time()), amr=("pwd",), acr=ACR_PASSWORD)
    previous = request.cookies.get(cookie_name(svc.settings, SESSION))
    value, session = await run_sync(start_session_sync, svc, auth, previous)
    svc.events.emit("login.succeeded", user_id=user.id, client_id=it.client_id,
                    ip=request.client.host if request.client else None)
    it.authenticated_user = user.id
    response = await advance(request, svc, it, session, persisted=True)
    set_session_cookie(response, svc, value)
    return response
