"""Passkeys on the hosted pages: the options endpoint every ceremony starts from, and the account page's
passkey list (add, rename, remove).

POST /passkeys/options (CSRF-protected form: `purpose`, and `interaction` for a sign-in) answers the
JSON the browser passes to navigator.credentials.create()/get(), after storing its challenge bound to
what it is for (interaction/ceremonies.py). The browser side is templates/static/passkeys.js; it posts
the authenticator's response back in an ordinary form, so the server answers with pages and redirects
as for a password. Adding a passkey is a sudo action (account_gate.require_recent_auth) checked both
when the options are asked for and when the new credential is posted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import Passkey
from authserver.errors import OAuthError
from authserver.i18n import N_, Message
from authserver.interaction import ceremonies, links
from authserver.interaction.account_gate import (
    ACCOUNT,
    REAUTH,
    account_form,
    recently_authenticated,
)
from authserver.interaction.credentials import last_factor_refusal, mfa_required_by
from authserver.interaction.events import client_ip, emit
from authserver.interaction.page import SECOND_FACTOR_PAGE, SIGN_IN_PAGE, WrongStep, load_interaction
from authserver.interaction.sessions import current_session
from authserver.security import webauthn
from authserver.services import Services, services
from authserver.store import DuplicateError, Removal
from authserver.web.addresses import source_key
from authserver.web.cookies import browser_binding, check_csrf, csrf_token
from authserver.web.errors import MALFORMED, PROTOCOL_PAGE_MESSAGES
from authserver.web.forms import read_form
from authserver.web.pages import PageError
from authserver.web.responses import json_response

MAX_NAME = 60
NOT_ADDED = N_("The passkey was not added. Try again; if it keeps failing, use another device or browser.")


def _problem(svc: Services, status: int, error: str, message: str, **extra: str) -> Response:
    """A refusal for passkeys.js, which shows the description: in the page's language."""
    return json_response({"error": error, "error_description": svc.pages.catalogs.translate(message), **extra}, status)


def display_name(name: str) -> str:
    """A user-chosen label: printable, one line, at most MAX_NAME characters."""
    cleaned = " ".join("".join(ch for ch in " ".join(name.split()) if ch.isprintable()).split())
    return cleaned[:MAX_NAME]


def default_name(existing: int) -> Message:
    """'Passkey 2' for a passkey added without a name: stored in the language of the page that added it."""
    return Message(N_("Passkey %(number)s"), number=existing + 1)


# --- POST /passkeys/options ---------------------------------------------------------------------------


async def options(request: Request) -> Response:
    svc = services(request)
    try:
        form = dict(await read_form(request, svc.settings.max_body_bytes))
    except OAuthError as exc:  # not a form, not UTF-8, too large: passkeys.js shows the description
        message = PROTOCOL_PAGE_MESSAGES.get(exc.status_code, MALFORMED)
        return _problem(svc, exc.status_code, exc.error, message)
    try:
        check_csrf(request, svc.settings, form)
    except PageError as exc:
        return _problem(svc, 403, "invalid_request", exc.description or "")
    purpose = form.get("purpose", "")
    if purpose == "register":
        return await _register_options(request, svc)
    if purpose == "sign-in":
        return await _sign_in_options(request, svc, form)
    if purpose == "second-factor":
        return await _second_factor_options(request, svc, form)
    if purpose == "reauth":
        return await _reauth_options(request, svc)
    if purpose == "reset":
        return await _reset_options(request, svc, form)
    return _problem(svc, 400, "invalid_request", N_("Unknown passkey ceremony."))


def _options_response(made: webauthn.Options) -> Response:
    return Response(made.json, media_type="application/json", headers={"cache-control": "no-store"})


async def _own_passkey_options(svc: Services, purpose: ceremonies.Purpose, binding: str, user_id: str) -> Response:
    """A second factor (or re-authentication) for a known account: only its own passkeys are offered,
    user verification preferred (the password is the other factor)."""
    mine = await run_sync(svc.store.list_passkeys, user_id)
    if not mine:
        return _problem(svc, 400, "invalid_request", N_("This account has no passkey."))
    made = webauthn.authentication_options(svc.rp, allow=[p.credential_id for p in mine], verification="preferred")
    await run_sync(ceremonies.begin, svc.cache, made.challenge, purpose, binding, user_id, int(svc.clock()))
    return _options_response(made)


async def _second_factor_options(request: Request, svc: Services, form: dict[str, str]) -> Response:
    browser = browser_binding(csrf_token(request, svc.settings))
    try:
        it = await load_interaction(request, svc, form.get("interaction"), browser, SECOND_FACTOR_PAGE)
    except WrongStep:  # not at /mfa's step: the password (or an upstream) has not proved the first factor
        return _problem(svc, 400, "invalid_request", N_("Enter your password first."))
    except PageError as exc:
        return _problem(svc, 400, "invalid_request", exc.description or "")
    pending = it.second_factor
    if pending is None:  # recorded with the step (Interaction.await_second_factor)
        return _problem(svc, 400, "invalid_request", N_("Enter your password first."))
    await run_sync(svc.limits.hit, "login_ip", source_key(client_ip(request)))
    return await _own_passkey_options(svc, "second-factor", it.id, pending.user_id)


async def _reset_options(request: Request, svc: Services, form: dict[str, str]) -> Response:
    """The password-reset page of an account with passkeys: bound to the emailed link (its hash)."""
    token = form.get("token", "")
    digest = links.hashed(token)
    link = await run_sync(svc.store.get_account_link, digest) if digest else None
    if digest is None or link is None or not links.live(link, links.RESET, int(svc.clock())):
        return _problem(svc, 400, "invalid_request", N_("This link has expired or was already used."))
    await run_sync(svc.limits.hit, "login_ip", source_key(client_ip(request)))
    return await _own_passkey_options(svc, "reset", digest, link.user_id)


async def _reauth_options(request: Request, svc: Services) -> Response:
    session = await current_session(request, svc)
    if session is None:
        return _problem(svc, 401, "login_required", N_("Your session has ended. Reload the page and sign in again."))
    return await _own_passkey_options(svc, "reauth", session.sid, session.user_id)


async def _register_options(request: Request, svc: Services) -> Response:
    session = await current_session(request, svc)
    user = await run_sync(svc.store.get_user, session.user_id) if session else None
    if session is None or user is None:
        return _problem(svc, 401, "login_required", N_("Your session has ended. Reload the page and sign in again."))
    if not await run_sync(recently_authenticated, svc, session):
        # The page sends the browser to confirm it's you, then back to the account page.
        return _problem(svc, 403, "reauth_required", N_("Confirm it's you first."), location=f"{REAUTH}?next={ACCOUNT}")
    existing = await run_sync(svc.store.list_passkeys, user.id)
    made = webauthn.registration_options(
        svc.rp,
        user_id=user.id,
        user_name=user.email or user.username,
        display_name=user.name or user.username,
        existing=[p.credential_id for p in existing],
    )
    await run_sync(ceremonies.begin, svc.cache, made.challenge, "register", session.sid, user.id, int(svc.clock()))
    return _options_response(made)


async def _sign_in_options(request: Request, svc: Services, form: dict[str, str]) -> Response:
    browser = browser_binding(csrf_token(request, svc.settings))
    try:
        it = await load_interaction(request, svc, form.get("interaction"), browser, SIGN_IN_PAGE)
    except PageError as exc:
        return _problem(svc, 400, "invalid_request", exc.description or "")
    await run_sync(svc.limits.hit, "login_ip", source_key(client_ip(request)))
    # Passwordless: the user is verified by the authenticator (PIN or biometric), so one passkey is two
    # factors; any passkey of this RP ID may answer (discoverable credentials).
    made = webauthn.authentication_options(svc.rp, verification="required")
    await run_sync(ceremonies.begin, svc.cache, made.challenge, "sign-in", it.id, None, int(svc.clock()))
    return _options_response(made)


# --- the account page ---------------------------------------------------------------------------------


def listing(passkeys: Sequence[Passkey]) -> list[dict[str, Any]]:
    return [
        {
            "id": p.credential_id,
            "name": p.name,
            "created": p.created_at,
            "last_used": p.last_used_at,
            "synced": p.backup_eligible,
        }
        for p in passkeys
    ]


def _done(what: str) -> Response:
    return RedirectResponse(f"{ACCOUNT}?done={what}", status_code=303)


def _refused(message: str, status: int = 400) -> PageError:
    return PageError(message, status_code=status, title=N_("Passkey not added"))


async def add(request: Request) -> Response:
    """POST /account/passkeys: the response of navigator.credentials.create() for a challenge this session
    asked for; stored as a new passkey of the signed-in user."""
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, session, user, form = posted
    response_json = form.get("credential", "")
    try:
        shown = webauthn.presented(response_json)
    except webauthn.PasskeyError as exc:
        await emit(svc, request, "passkey.failed", user_id=user.id, where="registration", reason=str(exc)[:200])
        raise _refused(NOT_ADDED) from None
    ceremony = await run_sync(ceremonies.take, svc.cache, shown.challenge, "register", session.sid, int(svc.clock()))
    if ceremony is None or ceremony.user_id != user.id:
        await emit(svc, request, "passkey.failed", user_id=user.id, where="registration", reason="challenge")
        raise _refused(
            "This passkey request has expired or was already used. Go back to your account and add it again."
        )
    try:
        new = await run_sync(webauthn.verify_registration, svc.rp, response_json, shown.challenge)
    except webauthn.PasskeyError as exc:
        await emit(svc, request, "passkey.failed", user_id=user.id, where="registration", reason=str(exc)[:200])
        raise _refused(NOT_ADDED) from None

    def store() -> Passkey:
        existing = svc.store.list_passkeys(user.id)
        passkey = Passkey(
            credential_id=new.credential_id,
            user_id=user.id,
            public_key=new.public_key,
            sign_count=new.sign_count,
            transports=new.transports,
            aaguid=new.aaguid,
            backup_eligible=new.backup_eligible,
            backed_up=new.backed_up,
            name=display_name(form.get("name", "")) or svc.pages.catalogs.translate(default_name(len(existing))),
            created_at=int(svc.clock()),
        )
        svc.store.add_passkey(passkey)
        return passkey

    try:
        passkey = await run_sync(store)
    except DuplicateError:
        await emit(svc, request, "passkey.failed", user_id=user.id, where="registration", reason="duplicate")
        raise _refused("This passkey is already registered.", status=409) from None
    await emit(
        svc,
        request,
        "passkey.registered",
        user_id=user.id,
        credential=passkey.credential_id[:16],
        synced=passkey.backup_eligible,
        user_verified=new.user_verified,
    )
    return _done("passkey")


async def rename(request: Request) -> Response:
    posted = await account_form(request)
    if isinstance(posted, Response):
        return posted
    svc, _, user, form = posted
    name = display_name(form.get("name", ""))
    if not name:
        raise PageError(N_("Give the passkey a name."), title=N_("Passkey not renamed"))
    if not await run_sync(svc.store.rename_passkey, user.id, form.get("id", "")[:1400], name):
        raise PageError(N_("That passkey no longer exists."), title=N_("Passkey not renamed"))
    await emit(svc, request, "passkey.renamed", user_id=user.id, credential=form.get("id", "")[:16])
    return _done("passkey-renamed")


LAST_WAY_IN = N_(
    "This is the last way you can sign in to your account. Set a password or connect another way to sign in first."
)


async def remove(request: Request) -> Response:
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, _, user, form = posted
    credential_id = form.get("id", "")[:1400]
    required_by = await run_sync(mfa_required_by, svc)
    outcome = await run_sync(lambda: svc.store.delete_passkey(user.id, credential_id, keep_a_factor=bool(required_by)))
    if outcome is Removal.NOT_FOUND:
        raise PageError(N_("That passkey no longer exists."), title=N_("Passkey not removed"))
    if outcome is Removal.LAST_FACTOR:
        await emit(svc, request, "passkey.remove_refused", user_id=user.id, reason="last_factor")
        raise PageError(last_factor_refusal(required_by), title=N_("Passkey not removed"), status_code=409)
    if outcome is Removal.LAST_WAY_IN:
        await emit(svc, request, "passkey.remove_refused", user_id=user.id, reason="last_way_in")
        raise PageError(LAST_WAY_IN, title=N_("Passkey not removed"), status_code=409)
    await emit(svc, request, "passkey.removed", user_id=user.id, credential=credential_id[:16], by="user")
    return _done("passkey-removed")
