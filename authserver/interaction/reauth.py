"""GET/POST /account/reauth: prove the password (and the second factor, when enrolled) again.

The page of sudo mode (interaction/account_gate.py): a signed-in user confirms it is them before a
change to how the account is protected. The second factor is a code from the authenticator app (or a
backup code) or one of the account's passkeys (a challenge bound to this browser session). The
password, the code and the passkey go through the one password, code and passkey checks, and so
through the same throttle as sign-in. Success records the time
in the server-side session and sends the browser back to the page it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import BrowserSession, User
from authserver.i18n import N_
from authserver.interaction import known_device
from authserver.interaction.account_gate import ACCOUNT, safe_next, signed_in
from authserver.interaction.credentials import (
    Factors,
    Guesser,
    Method,
    Verdict,
    check_passkey,
    check_password,
    check_second_factor,
    guesser,
    passkey_amr,
    second_factors,
)
from authserver.interaction.events import emit
from authserver.interaction.page import open_page
from authserver.services import Services
from authserver.web.cookies import attach_csrf, csrf_token

WRONG = N_("That is not right. Enter your password and a current code from your app (or a backup code).")
WRONG_PASSKEY = N_("That is not right. Enter your password, then confirm with one of your passkeys.")
WRONG_PASSWORD = N_("That password is not right.")
TOO_MANY = N_("Too many wrong attempts. Wait a few minutes, then try again.")


def _page_sync(
    svc: Services,
    request: Request,
    *,
    user_id: str,
    factors: Factors,
    back_to: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    # The upstreams connected to the account: confirming through one of them also counts (an account made
    # through an upstream has no password to type here).
    linked = {i.upstream for i in svc.store.list_upstream_identities(user_id)}
    upstreams = [u for u in svc.store.list_upstreams() if u.name in linked]
    response = svc.pages.render(
        "reauth.html",
        {
            "csrf_token": csrf_token(request, svc.settings),
            "totp": factors.totp,
            "passkeys": factors.passkeys > 0,
            "next": back_to,
            "error": error,
            "minutes": max(1, svc.settings.reauth_seconds // 60),
            "upstreams": [{"name": u.name, "display_name": u.display_name} for u in upstreams],
        },
        status=status,
        form_targets=[u.authorization_endpoint for u in upstreams],
    )
    attach_csrf(request, response, svc.settings)
    return response


async def _page(
    svc: Services,
    request: Request,
    *,
    user_id: str,
    factors: Factors,
    back_to: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return await run_sync(
        lambda: _page_sync(svc, request, user_id=user_id, factors=factors, back_to=back_to, error=error, status=status)
    )


@dataclass(frozen=True)
class Proof:
    verdict: Verdict
    factors: Factors  # the account's second factors: one of them was asked for
    failed: Literal["password", "code", "passkey"] | None = None
    amr: tuple[str, ...] = ()
    method: Method | None = None
    refused_by: tuple[str, ...] = ()
    reason: str | None = None  # why a passkey was refused (passkey.failed)
    credential: str | None = None  # the passkey used


def _prove(
    svc: Services, who: Guesser, user: User, session: BrowserSession, password: str, code: str, credential: str
) -> Proof:
    factors = second_factors(svc, user.id)
    first = check_password(svc, who, password, user=user, complete=not factors.any)
    if first.verdict is not Verdict.RIGHT:
        return Proof(first.verdict, factors, "password", refused_by=first.reservation.refused_by)
    if not factors.any:
        return Proof(Verdict.RIGHT, factors, amr=("pwd",))
    if credential:
        key = check_passkey(
            svc,
            who,
            credential,
            purpose="reauth",
            binding=session.sid,
            user_id=user.id,
            require_verification=False,
        )
        if key.verdict is not Verdict.RIGHT or key.passkey is None or key.assertion is None:
            refused = key.reservation.refused_by if key.reservation else ()
            return Proof(key.verdict, factors, "passkey", refused_by=refused, reason=key.reason)
        amr = ("pwd", *passkey_amr(key.passkey, key.assertion), "mfa")
        return Proof(Verdict.RIGHT, factors, amr=amr, credential=key.passkey.credential_id)
    factor = check_second_factor(svc, who, user.id, code)
    if factor.verdict is not Verdict.RIGHT:
        return Proof(factor.verdict, factors, "code", refused_by=factor.reservation.refused_by)
    amr = ("pwd", "otp", "mfa") if factor.method == "otp" else ("pwd", "mfa")
    return Proof(Verdict.RIGHT, factors, amr=amr, method=factor.method)


async def reauth(request: Request) -> Response:
    page = await open_page(request)
    svc, form = page.svc, page.form
    back_to = safe_next(page.param("next"))
    signed = await signed_in(request, svc, back_to=back_to)
    if isinstance(signed, Response):
        return signed
    session, user = signed
    if not page.posted:
        factors = await run_sync(second_factors, svc, user.id)
        return await _page(svc, request, user_id=user.id, factors=factors, back_to=back_to)
    return await _confirm(request, svc, session, user, form, back_to)


async def _confirm(
    request: Request, svc: Services, session: BrowserSession, user: User, form: dict[str, str], back_to: str
) -> Response:
    who = guesser(request, svc)
    await run_sync(svc.limits.hit_sign_in, who.source, user.id)
    proof = await run_sync(
        _prove, svc, who, user, session, form.get("password", ""), form.get("code", ""), form.get("credential", "")
    )
    factors = proof.factors
    if proof.verdict is Verdict.THROTTLED:
        await emit(
            svc, request, "reauthentication.throttled", user_id=user.id, sid=session.sid, limits=list(proof.refused_by)
        )
        return await _page(svc, request, user_id=user.id, factors=factors, back_to=back_to, error=TOO_MANY, status=429)
    if proof.verdict is Verdict.WRONG:
        if proof.failed == "code":
            svc.metrics.mfa_failures.inc()
            await emit(svc, request, "mfa.failed", user_id=user.id, sid=session.sid, where="reauthentication")
        elif proof.failed == "passkey":
            svc.metrics.mfa_failures.inc()
            await emit(svc, request, "passkey.failed", user_id=user.id, where="reauthentication", reason=proof.reason)
        else:
            await emit(svc, request, "reauthentication.failed", user_id=user.id, sid=session.sid)
        error = {
            "passkey": WRONG_PASSKEY,
            "code": WRONG,
            "password": WRONG if factors.totp else WRONG_PASSKEY if factors.any else WRONG_PASSWORD,
        }
        return await _page(
            svc,
            request,
            user_id=user.id,
            factors=factors,
            back_to=back_to,
            error=error[proof.failed or "password"],
            status=400,
        )

    amr = proof.amr
    now = int(svc.clock())
    await run_sync(svc.store.mark_reauthenticated, session.id_hash, now, amr)
    if proof.method == "backup":
        remaining = await run_sync(svc.store.count_backup_codes, user.id)
        await emit(svc, request, "backup_code.used", user_id=user.id, remaining=remaining)
    if proof.credential:
        await emit(
            svc, request, "passkey.used", user_id=user.id, where="reauthentication", credential=proof.credential[:16]
        )
    await emit(svc, request, "reauthentication.succeeded", user_id=user.id, sid=session.sid, amr=list(amr))
    response = RedirectResponse(back_to if back_to != ACCOUNT else ACCOUNT + "?done=confirmed", status_code=303)
    known_device.remember(request, response, svc.settings, user.id, int(svc.clock()))
    return response
