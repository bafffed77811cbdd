"""GET/POST /mfa: the second step of a sign-in, for accounts with TOTP or passkeys.

A TOTP code is accepted once (the store only moves the last accepted step forward); a backup code
works once and is consumed. A passkey answers a challenge bound to this sign-in, naming only the
account's own passkeys (user verification preferred, not required: the password was the first factor).
Every code and every passkey goes through the one throttle (interaction/credentials.py): the account's
counters, and this sign-in's own limit of `mfa_max_attempts` attempts, after which the half-signed-in
state is thrown away and the user starts over.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import ACR_MFA, Authentication
from authserver.i18n import N_
from authserver.interaction import state
from authserver.interaction.credentials import (
    Verdict,
    check_passkey,
    check_second_factor,
    guesser,
    passkey_amr,
    second_factors,
)
from authserver.interaction.events import emit
from authserver.interaction.flow import EXPIRED
from authserver.interaction.login import finish_sign_in
from authserver.interaction.page import SECOND_FACTOR_PAGE, open_interaction
from authserver.security.throttle import Reservation
from authserver.services import Services
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError

WRONG_CODE = N_("That code is not right. Enter the current code from your app, or a backup code.")
TOO_MANY = N_("Too many wrong codes. Go back to the application and sign in again.")
PASSKEY_WRONG = N_("That passkey could not be used. Try again, or use another of your passkeys.")


def mfa_page(
    svc: Services, request: Request, it: state.Interaction, user_id: str, error: str | None, status: int = 200
) -> Response:
    factors = second_factors(svc, user_id)
    response = svc.pages.render(
        "mfa.html",
        {
            "interaction": it.id,
            "csrf_token": csrf_token(request, svc.settings),
            "error": error,
            "totp": factors.totp,
            "passkeys": factors.passkeys > 0,
        },
        status=status,
        form_targets=it.form_targets,
    )
    attach_csrf(request, response, svc.settings)
    return response


async def _refused(
    request: Request,
    svc: Services,
    it: state.Interaction,
    user_id: str,
    reservation: Reservation | None,
    throttled: bool,
    error: str,
) -> Response:
    """A wrong or throttled attempt: the page again, or, at this sign-in's limit, the sign-in discarded."""
    if throttled or (reservation is not None and reservation.reached(svc.throttle.rules.sign_in.name)):
        await run_sync(state.finish, svc.cache, it)  # discard the half-signed-in state
        raise PageError(TOO_MANY, title=N_("Sign-in stopped"), status_code=400)
    return await run_sync(mfa_page, svc, request, it, user_id, error, 400)


async def _with_passkey(
    request: Request, svc: Services, it: state.Interaction, user_id: str, credential: str
) -> Response:
    who = guesser(request, svc)
    check = await run_sync(
        lambda: check_passkey(
            svc,
            who,
            credential,
            purpose="second-factor",
            binding=it.id,
            user_id=user_id,
            sign_in=it.id,
            require_verification=False,
        )
    )
    if check.verdict is not Verdict.RIGHT or check.passkey is None or check.assertion is None:
        throttled = check.verdict is Verdict.THROTTLED
        if not throttled:
            svc.metrics.mfa_failures.inc()
        await emit(
            svc,
            request,
            "passkey.failed",
            where="second-factor",
            user_id=user_id,
            client_id=it.client_id,
            reason="throttled" if throttled else check.reason,
        )
        return await _refused(request, svc, it, user_id, check.reservation, throttled, PASSKEY_WRONG)
    passkey = check.passkey
    await emit(
        svc,
        request,
        "passkey.used",
        where="second-factor",
        user_id=user_id,
        client_id=it.client_id,
        credential=passkey.credential_id[:16],
    )
    await emit(svc, request, "mfa.used", user_id=user_id, client_id=it.client_id, method="passkey")
    # RFC 8176: the password, the passkey (hwk/swk, user, and pin when the user was verified), mfa.
    # What the first step proved: the password, or a sign-in through an upstream ("fed", RFC 8176).
    first = it.second_factor.first if it.second_factor else ("pwd",)
    amr = (*first, *passkey_amr(passkey, check.assertion), "mfa")
    auth = Authentication(
        user_id=user_id,
        auth_time=int(svc.clock()),
        amr=amr,
        acr=ACR_MFA,
        upstream=it.second_factor.upstream if it.second_factor else None,
    )
    return await finish_sign_in(request, svc, it, auth)


async def mfa(request: Request) -> Response:
    opened = await open_interaction(request, SECOND_FACTOR_PAGE)
    if isinstance(opened, Response):
        return opened
    page, it = opened
    svc, form = page.svc, page.form
    pending = it.second_factor
    if pending is None:  # recorded with the step (Interaction.await_second_factor)
        raise PageError(EXPIRED, title=N_("Sign-in expired"))
    user_id = pending.user_id
    if not page.posted:
        return await run_sync(mfa_page, svc, request, it, user_id, None)

    who = guesser(request, svc)
    await run_sync(svc.limits.hit_sign_in, who.source, user_id)
    if "credential" in form:
        return await _with_passkey(request, svc, it, user_id, form["credential"])
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
        throttled = check.verdict is Verdict.THROTTLED
        return await _refused(request, svc, it, user_id, check.reservation, throttled, WRONG_CODE)

    if check.method == "backup":
        remaining = await run_sync(svc.store.count_backup_codes, user_id)
        await emit(svc, request, "backup_code.used", user_id=user_id, remaining=remaining)
    await emit(svc, request, "mfa.used", user_id=user_id, client_id=it.client_id, method=check.method)
    # RFC 8176 amr values: pwd, plus otp for an authenticator code, and mfa for any second factor.
    # What the first step proved: the password, or a sign-in through an upstream ("fed", RFC 8176).
    first = it.second_factor.first if it.second_factor else ("pwd",)
    amr = (*first, "otp", "mfa") if check.method == "otp" else (*first, "mfa")
    auth = Authentication(
        user_id=user_id,
        auth_time=int(svc.clock()),
        amr=amr,
        acr=ACR_MFA,
        upstream=it.second_factor.upstream if it.second_factor else None,
    )
    return await finish_sign_in(request, svc, it, auth)
