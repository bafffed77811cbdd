"""The hosted account page: profile, passkeys (interaction/passkeys.py), second factors, sessions,
connected apps, password.

Every change is a POST with a CSRF token, and no GET changes anything. Changes to how the account is
protected (setting up or turning off TOTP, new backup codes, a new password) pass the sudo gate
first (interaction/account_gate.py: the password, and the second factor when enrolled, proven within
`reauth_seconds`, else the re-authentication page and back). A new password also needs the current
one, checked by the one password check (interaction/credentials.py) and so throttled like sign-in.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import BrowserSession, User
from authserver.i18n import N_
from authserver.interaction import passkeys
from authserver.interaction.account_gate import ACCOUNT, account_form, require_recent_auth, signed_in
from authserver.interaction.credentials import (
    Verdict,
    check_password,
    guesser,
    last_factor_refusal,
    mfa_required_by,
    totp_sealer,
)
from authserver.interaction.events import emit
from authserver.interaction.page import open_page
from authserver.interaction.sessions import clear_session_cookie, end_session_sync
from authserver.manage.account_data import sign_in_history
from authserver.oauth.claims import describe_scope
from authserver.security import backup_codes, passwords, totp
from authserver.services import Services, services
from authserver.store import Removal
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError

ENROL = "/account/mfa/totp"
TOO_MANY = N_("Too many wrong attempts. Wait a few minutes, then try again.")


NOTICES = {
    "password": N_("Your password was changed. Your other sessions were signed out."),
    "totp": N_("Two-step verification is on."),
    "totp-off": N_("Two-step verification is off."),
    "ended": N_("The session was signed out."),
    "others": N_("All your other sessions were signed out."),
    "revoked": N_("The app's access was removed."),
    "passkey": N_("Your passkey was added. Next time, sign in with it instead of your password."),
    "passkey-renamed": N_("The passkey was renamed."),
    "passkey-removed": N_("The passkey was removed."),
    "upstream-linked": N_("The provider was connected: you can sign in with it now."),
    "upstream-unlinked": N_("The provider was disconnected."),
    "confirmed": N_(
        "Thank you. For the next few minutes you can change your password and two-step "
        "verification without confirming again."
    ),
}


def _overview(svc: Services, session: BrowserSession, user: User) -> dict[str, Any]:
    factor = svc.store.get_totp(user.id)
    sessions = [
        {
            "sid": s.sid,
            "current": s.sid == session.sid,
            "created": s.created_at,
            "last_seen": s.last_seen_at,
            "mfa": "mfa" in s.amr,
        }
        for s in svc.store.list_user_sessions(user.id)
    ]
    apps = []
    for client_id, scopes, updated in svc.store.list_consents(user.id):
        client = svc.clients.get(client_id)
        apps.append(
            {
                "client_id": client_id,
                "name": client.name if client else client_id,
                "since": updated,
                "scopes": [describe_scope(s) for s in sorted(scopes)],
            }
        )
    totp_active = factor is not None and factor.confirmed_at is not None
    listed = passkeys.listing(svc.store.list_passkeys(user.id))
    linked = {i.upstream: i for i in svc.store.list_upstream_identities(user.id)}
    configured = svc.store.list_upstreams()
    upstreams = [
        {
            "name": u.name,
            "display_name": u.display_name,
            "linked": u.name in linked,
            "email": linked[u.name].email if u.name in linked else None,
            "since": linked[u.name].created_at if u.name in linked else "",
            "endpoint": u.authorization_endpoint,
        }
        for u in configured
    ]
    return {
        "upstreams": upstreams,
        "user": user,
        "second_factor": totp_active or bool(listed),
        "totp_active": totp_active,
        "totp_since": factor.confirmed_at if factor else None,
        "backup_left": svc.store.count_backup_codes(user.id),
        "passkeys": listed,
        "sessions": sessions,
        "apps": apps,
        "history": sign_in_history(svc.store, user.id, {u.name: u.display_name for u in configured}),
    }


def _render(svc: Services, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    # "Connect" posts to us and is redirected to the upstream: form-action must allow that redirect.
    targets = [u["endpoint"] for u in context.get("upstreams", ())]
    response = svc.pages.render(
        template, {"csrf_token": csrf_token(request, svc.settings), **context}, status=status, form_targets=targets
    )
    attach_csrf(request, response, svc.settings)
    return response


async def _page(
    svc: Services,
    request: Request,
    session: BrowserSession,
    user: User,
    *,
    notice: str | None = None,
    error: str | None = None,
    field: str = "",
    status: int = 200,
) -> Response:
    """The account page; `field`: the id of the input the error is about (the error names and links it,
    and the input points back at the error)."""
    context = await run_sync(_overview, svc, session, user)
    if notice == NOTICES["totp-off"] and context["passkeys"]:
        notice = N_("The authenticator app was removed. Signing in still asks for a passkey after your password.")
    shown = {**context, "notice": notice, "error": error, "error_field": field if error else ""}
    return _render(svc, request, "account.html", shown, status)


async def account(request: Request) -> Response:
    page = await open_page(request)
    svc = page.svc
    signed = await signed_in(request, svc)
    if isinstance(signed, Response):
        return signed
    session, user = signed
    notice = NOTICES.get(page.query.get("done") or "")
    return await _page(svc, request, session, user, notice=notice)


def _done(what: str) -> Response:
    return RedirectResponse(f"/account?done={what}", status_code=303)


async def change_password(request: Request) -> Response:
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, session, user, form = posted
    new, repeat = form.get("new_password", ""), form.get("confirm_password", "")
    who = guesser(request, svc)
    current = await run_sync(
        lambda: check_password(svc, who, form.get("current_password", ""), user=user, complete=False)
    )
    if current.verdict is Verdict.THROTTLED:
        return await _page(svc, request, session, user, error=TOO_MANY, status=429)
    if current.verdict is Verdict.WRONG:
        await emit(svc, request, "password.change_failed", user_id=user.id, reason="current_password")
        return await _page(
            svc,
            request,
            session,
            user,
            error=N_("Your current password is not right."),
            field="current_password",
            status=400,
        )
    if new != repeat:
        return await _page(
            svc,
            request,
            session,
            user,
            error=N_("The new passwords do not match."),
            field="confirm_password",
            status=400,
        )
    try:
        passwords.check_policy(new, username=user.username, email=user.email)
    except passwords.PasswordPolicyError as exc:
        # The sentences of the account rules (in the catalogs: signup.py lists them).
        sentence = str(exc)[0].upper() + str(exc)[1:] + "."
        return await _page(svc, request, session, user, error=sentence, field="new_password", status=400)

    def apply() -> tuple[int, int]:
        svc.store.set_password_hash(user.id, svc.passwords.hash(new))
        ended = 0
        for other in svc.store.list_user_sessions(user.id):
            if other.sid != session.sid:
                end_session_sync(svc, other, reason="password_changed")
                ended += 1
        # Whoever knew the old password may hold tokens (offline, device ones): they all end.
        return ended, svc.server.tokens.revoke_user_grants(user.id, reason="password_changed")

    ended, grants = await run_sync(apply)
    await emit(svc, request, "password.changed", user_id=user.id, sessions_ended=ended, grants_revoked=grants)
    return _done("password")


async def totp_start(request: Request) -> Response:
    """POST: a new secret (replacing one not yet confirmed), then the page that shows it."""
    posted = await account_form(request, sudo=ENROL)
    if isinstance(posted, Response):
        return posted
    svc, _, user, _ = posted
    sealed = totp_sealer(svc).seal(totp.new_secret().encode(), user.id)
    if not await run_sync(svc.store.start_totp, user.id, sealed, int(svc.clock())):
        return _done("totp")  # already on
    return RedirectResponse(ENROL, status_code=303)


def _pending_secret(svc: Services, user_id: str) -> tuple[bool, str | None]:
    """(TOTP already on, the secret being set up if any)."""
    factor = svc.store.get_totp(user_id)
    if factor is None:
        return False, None
    if factor.confirmed_at is not None:
        return True, None
    return False, totp_sealer(svc).open(factor.secret_enc, user_id).decode()


async def totp_enrol(request: Request) -> Response:
    """GET: the secret being set up (its QR code and the secret as text), or a button to start.
    POST: activate it with a valid code. Both need a recent authentication: the secret is a credential."""
    svc = services(request)
    if request.method == "POST":
        posted = await account_form(request)
        if isinstance(posted, Response):
            return posted
        svc, session, user, form = posted
    else:
        signed = await signed_in(request, svc, back_to=ENROL)
        if isinstance(signed, Response):
            return signed
        session, user = signed
        form = {}
    active, secret = await run_sync(_pending_secret, svc, user.id)
    if active and request.method == "GET":
        return _done("totp")
    if secret is None and request.method == "POST":
        raise PageError(N_("Start setting up two-step verification again from your account page."), title=N_("Expired"))
    gate = await require_recent_auth(request, svc, session, back_to=ENROL)
    if gate is not None:
        return gate
    if secret is None:
        return _render(svc, request, "totp_start.html", {})
    if request.method == "GET":
        return _enrol_page(svc, request, user, secret, None)

    step = totp.matching_step(secret, form.get("code", "")[:16], svc.clock())
    if step is None or not await run_sync(svc.store.confirm_totp, user.id, step, int(svc.clock())):
        await emit(svc, request, "mfa.enrolment_failed", user_id=user.id)
        return _enrol_page(
            svc, request, user, secret, "That code is not right. Check your app's time and try again.", status=400
        )
    codes = await run_sync(_new_backup_codes, svc, user.id)
    await emit(svc, request, "mfa.enrolled", user_id=user.id, method="totp")
    return _render(svc, request, "backup_codes.html", {"codes": codes, "first": True})


def _enrol_page(
    svc: Services, request: Request, user: User, secret: str, error: str | None, status: int = 200
) -> Response:
    uri = totp.provisioning_uri(secret, user.email or user.username, svc.settings.issuer.split("//", 1)[-1])
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return _render(
        svc,
        request,
        "totp_enrol.html",
        {
            "qr_svg": totp.qr_svg(uri, svc.pages.catalogs.gettext(N_("QR code for your authenticator app"))),
            "otpauth_uri": uri,
            "secret": grouped,
            "error": error,
        },
        status,
    )


def _new_backup_codes(svc: Services, user_id: str) -> list[str]:
    codes = backup_codes.generate()
    hashes = [backup_codes.hash_code(svc.hasher, backup_codes.normalise(c) or "") for c in codes]
    svc.store.replace_backup_codes(user_id, hashes, int(svc.clock()))
    return codes


async def totp_disable(request: Request) -> Response:
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, _, user, _ = posted
    required_by = await run_sync(mfa_required_by, svc)
    outcome = await run_sync(lambda: svc.store.delete_totp(user.id, keep_a_factor=bool(required_by)))
    if outcome is Removal.LAST_FACTOR:
        await emit(svc, request, "mfa.disable_refused", user_id=user.id, reason="last_factor")
        raise PageError(last_factor_refusal(required_by), title=N_("Not removed"), status_code=409)
    if outcome is Removal.REMOVED:
        await emit(svc, request, "mfa.disabled", user_id=user.id, by="user")
    return _done("totp-off")


async def regenerate_backup_codes(request: Request) -> Response:
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, session, user, _ = posted
    active, _ = await run_sync(_pending_secret, svc, user.id)
    if not active:
        return await _page(
            svc,
            request,
            session,
            user,
            status=400,
            error=N_("Backup codes come with two-step verification: turn it on first."),
        )
    codes = await run_sync(_new_backup_codes, svc, user.id)
    await emit(svc, request, "backup_codes.regenerated", user_id=user.id)
    return _render(svc, request, "backup_codes.html", {"codes": codes, "first": False})


async def end_session(request: Request) -> Response:
    posted = await account_form(request)
    if isinstance(posted, Response):
        return posted
    svc, session, user, form = posted
    target = await run_sync(svc.store.get_session_by_sid, form.get("sid", "")[:64])
    if target is None or target.user_id != user.id:
        return await _page(svc, request, session, user, error=N_("That session has already ended."), status=400)
    await run_sync(lambda: end_session_sync(svc, target, reason="ended_by_user"))
    await emit(svc, request, "session.revoked", user_id=user.id, sid=target.sid)
    if target.sid == session.sid:
        response = svc.pages.render("logged_out.html", {})
        clear_session_cookie(response, svc)
        return response
    return _done("ended")


async def end_other_sessions(request: Request) -> Response:
    posted = await account_form(request)
    if isinstance(posted, Response):
        return posted
    svc, session, user, _ = posted

    def apply() -> tuple[int, int]:
        others = [s for s in svc.store.list_user_sessions(user.id) if s.sid != session.sid]
        for other in others:
            end_session_sync(svc, other, reason="ended_by_user")
        # Signing out everywhere ends every app's and device's tokens too, this browser's apps included
        # (they sign in again silently through this session).
        return len(others), svc.server.tokens.revoke_user_grants(user.id, reason="signed_out_everywhere")

    ended, grants = await run_sync(apply)
    await emit(svc, request, "session.revoked", user_id=user.id, count=ended, scope="others", grants_revoked=grants)
    return _done("others")


async def revoke_app(request: Request) -> Response:
    posted = await account_form(request)
    if isinstance(posted, Response):
        return posted
    svc, session, user, form = posted
    client_id = form.get("client_id", "")[:64]

    def apply() -> bool:
        removed = svc.store.delete_consent(user.id, client_id)
        for grant_id in svc.store.revoke_user_client_grants(user.id, client_id, int(svc.clock())):
            svc.server.tokens.revoke_grant(grant_id, reason="consent_revoked")
        return removed

    if not await run_sync(apply):
        return await _page(svc, request, session, user, error=N_("That app no longer has access."), status=400)
    await emit(svc, request, "consent.revoked", user_id=user.id, client_id=client_id)
    return _done("revoked")
