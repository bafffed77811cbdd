"""GET/POST /account/reauth: prove the password (and the second factor, when enrolled) again.

The page of sudo mode (interaction/account_gate.py): a signed-in user confirms it is them before a
change to how the account is protected. The password and the code go through the one password check
and the one second-factor check, and so through the same throttle as sign-in. Success records the time
in the server-side session and sends the browser back to the page it came from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import BrowserSession, User
from authserver.interaction import known_device
from authserver.interaction.account_gate import ACCOUNT, safe_next, signed_in
from authserver.interaction.credentials import (
    Guesser,
    Method,
    Verdict,
    check_password,
    check_second_factor,
    guesser,
    has_second_factor,
)
from authserver.interaction.events import emit
from authserver.services import Services, services
from authserver.web.cookies import attach_csrf, check_csrf, csrf_token
from authserver.web.forms import read_form

WRONG = "That is not right. Enter your password and a current code from your app (or a backup code)."
WRONG_PASSWORD = "That password is not right."  # noqa: S105 - page text, not a secret
TOO_MANY = "Too many wrong attempts. Wait a few minutes, then try again."


def _page(
    svc: Services, request: Request, *, second_factor: bool, back_to: str, error: str | None = None, status: int = 200
) -> Response:
    response = svc.pages.render(
        "reauth.html",
        {
            "csrf_token": csrf_token(request, svc.settings),
            "second_factor": second_factor,
            "next": back_to,
            "error": error,
            "minutes": max(1, svc.settings.reauth_seconds // 60),
        },
        status=status,
    )
    attach_csrf(request, response, svc.settings)
    return response


@dataclass(frozen=True)
class Proof:
    verdict: Verdict
    second_factor: bool  # the account has one, so a code was asked for
    failed: Literal["password", "code"] | None = None
    method: Method | None = None
    refused_by: tuple[str, ...] = ()


def _prove(svc: Services, who: Guesser, user: User, password: str, code: str) -> Proof:
    second = has_second_factor(svc, user.id)
    first = check_password(svc, who, password, user=user, complete=not second)
    if first.verdict is not Verdict.RIGHT:
        return Proof(first.verdict, second, "password", refused_by=first.reservation.refused_by)
    if not second:
        return Proof(Verdict.RIGHT, second)
    factor = check_second_factor(svc, who, user.id, code)
    failed: Literal["code"] | None = "code" if factor.verdict is not Verdict.RIGHT else None
    return Proof(factor.verdict, second, failed, factor.method, factor.reservation.refused_by)


async def reauth(request: Request) -> Response:
    svc = services(request)
    form: dict[str, str] = {}
    if request.method == "POST":
        form = dict(await read_form(request, svc.settings.max_body_bytes))
        check_csrf(request, svc.settings, form)
    back_to = safe_next(form.get("next") if request.method == "POST" else request.query_params.get("next"))
    signed = await signed_in(request, svc, back_to=back_to)
    if isinstance(signed, Response):
        return signed
    session, user = signed
    if request.method == "GET":
        second = await run_sync(has_second_factor, svc, user.id)
        return _page(svc, request, second_factor=second, back_to=back_to)
    return await _confirm(request, svc, session, user, form, back_to)


async def _confirm(
    request: Request, svc: Services, session: BrowserSession, user: User, form: dict[str, str], back_to: str
) -> Response:
    who = guesser(request, svc)
    await run_sync(svc.limits.hit_sign_in, who.source, user.id)
    proof = await run_sync(_prove, svc, who, user, form.get("password", ""), form.get("code", ""))
    second = proof.second_factor
    if proof.verdict is Verdict.THROTTLED:
        await emit(
            svc, request, "reauthentication.throttled", user_id=user.id, sid=session.sid, limits=list(proof.refused_by)
        )
        return _page(svc, request, second_factor=second, back_to=back_to, error=TOO_MANY, status=429)
    if proof.verdict is Verdict.WRONG:
        if proof.failed == "code":
            svc.metrics.mfa_failures.inc()
            await emit(svc, request, "mfa.failed", user_id=user.id, sid=session.sid, where="reauthentication")
        else:
            await emit(svc, request, "reauthentication.failed", user_id=user.id, sid=session.sid)
        return _page(
            svc, request, second_factor=second, back_to=back_to, error=WRONG if second else WRONG_PASSWORD, status=400
        )

    method = proof.method
    amr = ("pwd",) if not second else (("pwd", "otp", "mfa") if method == "otp" else ("pwd", "mfa"))
    now = int(time.time())
    await run_sync(svc.store.mark_reauthenticated, session.id_hash, now, amr)
    if method == "backup":
        remaining = await run_sync(svc.store.count_backup_codes, user.id)
        await emit(svc, request, "backup_code.used", user_id=user.id, remaining=remaining)
    await emit(svc, request, "reauthentication.succeeded", user_id=user.id, sid=session.sid, amr=list(amr))
    response = RedirectResponse(back_to if back_to != ACCOUNT else ACCOUNT + "?done=confirmed", status_code=303)
    known_device.remember(request, response, svc.settings, user.id)
    return response
