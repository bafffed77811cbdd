"""GET/POST /mfa: the second step of a sign-in, for accounts with TOTP.

A TOTP code is accepted once (the store only moves the last accepted step forward); a backup code
works once and is consumed. Every code goes through the one second-factor check and so through the
one throttle (interaction/credentials.py): the account's counters, and this sign-in's own limit of
`mfa_max_attempts` codes, after which the half-signed-in state is thrown away and the user starts over.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import ACR_MFA, Authentication
from authserver.interaction import state
from authserver.interaction.credentials import Verdict, check_second_factor, guesser
from authserver.interaction.events import emit
from authserver.interaction.flow import EXPIRED, load_for_browser
from authserver.interaction.login import finish_sign_in
from authserver.services import Services, services
from authserver.web.cookies import attach_csrf, browser_binding, check_csrf, csrf_token
from authserver.web.forms import read_form
from authserver.web.pages import PageError

WRONG_CODE = "That code is not right. Enter the current code from your app, or a backup code."
TOO_MANY = "Too many wrong codes. Go back to the application and sign in again."


def mfa_page(svc: Services, request: Request, it: state.Interaction, error: str | None, status: int = 200) -> Response:
    response = svc.pages.render(
        "mfa.html",
        {"interaction": it.id, "csrf_token": csrf_token(request, svc.settings), "error": error},
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
    who = guesser(request, svc)
    await run_sync(svc.limits.hit_sign_in, who.source, user_id)
    check = await run_sync(lambda: check_second_factor(svc, who, user_id, form.get("code", ""), sign_in=it.id))
    if check.verdict is not Verdict.RIGHT:
        if check.verdict is Verdict.WRONG:
            svc.metrics.mfa_failures.inc()
            await emit(svc, request, "mfa.failed", user_id=user_id, client_id=it.client_id)
        else:
            await emit(
                svc,
                request,
                "mfa.throttled",
                user_id=user_id,
                client_id=it.client_id,
                limits=list(check.reservation.refused_by),
            )
        if check.verdict is Verdict.THROTTLED or check.reservation.reached(svc.throttle.rules.sign_in.name):
            await run_sync(state.finish, svc.cache, it)  # discard the half-signed-in state
            raise PageError(TOO_MANY, title="Sign-in stopped", status_code=400)
        return mfa_page(svc, request, it, WRONG_CODE, status=400)

    if check.method == "backup":
        remaining = await run_sync(svc.store.count_backup_codes, user_id)
        await emit(svc, request, "backup_code.used", user_id=user_id, remaining=remaining)
    await emit(svc, request, "mfa.used", user_id=user_id, client_id=it.client_id, method=check.method)
    # RFC 8176 amr values: pwd, plus otp for an authenticator code, and mfa for any second factor.
    amr = ("pwd", "otp", "mfa") if check.method == "otp" else ("pwd", "mfa")
    auth = Authentication(user_id=user_id, auth_time=int(time.time()), amr=amr, acr=ACR_MFA)
    return await finish_sign_in(request, svc, it, auth)
