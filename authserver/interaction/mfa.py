"""GET/POST /mfa: the second step of a sign-in, for accounts with TOTP.

A TOTP code is accepted once (the store only moves the last accepted step forward); a backup code
works once and is consumed. After `mfa_max_attempts` wrong codes the half-signed-in state is thrown
away and the user starts over; every wrong code also counts against the account's login throttle.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import ACR_MFA, Authentication
from authserver.interaction import state
from authserver.interaction.events import client_ip, emit
from authserver.interaction.flow import EXPIRED, load_for_browser
from authserver.interaction.login import finish_sign_in
from authserver.interaction.throttle import LoginThrottle
from authserver.security import backup_codes, totp
from authserver.security.crypto import Sealer
from authserver.services import Services
from authserver.web.cookies import attach_csrf, browser_binding, check_csrf, csrf_token
from authserver.web.forms import read_form
from authserver.web.oauth_edge import services
from authserver.web.pages import PageError

WRONG_CODE = "That code is not right. Enter the current code from your app, or a backup code."
TOO_MANY = "Too many wrong codes. Go back to the application and sign in again."


def totp_sealer(svc: Services) -> Sealer:
    return Sealer(svc.settings.secret_bytes(), "totp")


def check_code(svc: Services, user_id: str, code: str) -> str | None:
    """'otp' or 'backup' when the code is good (and now spent), else None."""
    factor = svc.store.get_totp(user_id)
    if factor is None or factor.confirmed_at is None:
        return None
    secret = totp_sealer(svc).open(factor.secret_enc, user_id).decode()
    step = totp.matching_step(secret, code)
    if step is not None:
        return "otp" if svc.store.use_totp_step(user_id, step) else None  # replay of a used step
    backup = backup_codes.normalise(code)
    if backup and svc.store.use_backup_code(user_id, backup_codes.hash_code(svc.hasher, backup), int(time.time())):
        return "backup"
    return None


def mfa_page(svc: Services, request: Request, it: state.Interaction, error: str | None, status: int = 200) -> Response:
    response = svc.pages.render(
        "mfa.html", {"interaction": it.id, "csrf_token": csrf_token(request, svc.settings), "error": error},
        status=status,
        form_targets=[it.request["redirect_uri"]] if "redirect_uri" in it.request else (),
    )
    attach_csrf(request, response, svc.settings)
    return response


async def mfa(request: Request) -> Response:
    svc = services(request)
    browser = browser_binding(csrf_token(request, svc.settings))
    form: dict[str, str] = {}
    if request.method == "POST":
        form = dict(await read_form(request, svc.settings.max_body_bytes))
        check_csrf(request, svc.settings, form)
    interaction_id = form.get("interaction") if request.method == "POST" else request.query_params.get("interaction")
    it = await load_for_browser(request, svc, interaction_id, browser)
    pending = it.extra.get("mfa")
    if not pending:
        raise PageError(EXPIRED, title="Sign-in expired")
    if request.method == "GET":
        return mfa_page(svc, request, it, None)

    user_id = pending["user_id"]
    throttle = LoginThrottle(svc.cache, svc.settings, svc.events)
    ip = client_ip(request)
    await run_sync(lambda: (svc.limits.hit("login_ip", ip or "unknown"), svc.limits.hit("login_account", user_id)))
    locked = await run_sync(throttle.locked, pending["account"], ip)
    used = None if locked else await run_sync(check_code, svc, user_id, form.get("code", "")[:64])
    if used is None:
        svc.metrics.mfa_failures.inc()
        pending["failures"] += 1
        await run_sync(lambda: throttle.failure(pending["account"], ip, user_id=user_id))
        await emit(svc, request, "mfa.failed", user_id=user_id, client_id=it.client_id)
        if pending["failures"] >= svc.settings.mfa_max_attempts or locked:
            await run_sync(state.finish, svc.cache, it)  # discard the half-signed-in state
            raise PageError(TOO_MANY, title="Sign-in stopped", status_code=400)
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        return mfa_page(svc, request, it, WRONG_CODE, status=400)

    await run_sync(throttle.success, pending["account"])
    if used == "backup":
        remaining = await run_sync(svc.store.count_backup_codes, user_id)
        await emit(svc, request, "backup_code.used", user_id=user_id, remaining=remaining)
    await emit(svc, request, "mfa.used", user_id=user_id, client_id=it.client_id, method=used)
    # RFC 8176 amr values: pwd, plus otp for an authenticator code, and mfa for any second factor.
    amr = ("pwd", "otp", "mfa") if used == "otp" else ("pwd", "mfa")
    auth = Authentication(user_id=user_id, auth_time=int(time.time()), amr=amr, acr=ACR_MFA)
    return await finish_sign_in(request, svc, it, auth)
