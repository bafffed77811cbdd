"""The sign-in state machine: decide the next step of a pending authorization.

login (no session, prompt=login, max_age exceeded, id_token_hint for someone else)
  -> consent (not first-party, scopes not yet granted, or prompt=consent)
  -> code (single use, 60 s) back to the client.
prompt=none never shows a page: it answers login_required / consent_required (OIDC Core §3.1.2.6).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import ACR_MFA, AuthCode, BrowserSession, Client
from authserver.interaction import state
from authserver.interaction.credentials import has_second_factor
from authserver.interaction.events import emit
from authserver.interaction.respond import error_to_client, to_client
from authserver.oauth.claims import consent_scopes
from authserver.security.secrets import token_hash
from authserver.services import Services
from authserver.web.pages import PageError

EXPIRED = "This sign-in request has expired or was already used. Go back to the application and start again."


def needs_login(it: state.Interaction, session: BrowserSession | None, now: int) -> bool:
    if session is None:
        return True
    if it.authenticated_user == session.user_id:
        return False  # the user (re-)authenticated during this very request
    req = it.request
    if it.prompt & {"login", "select_account"}:
        return True
    # OIDC Core §3.1.2.1: max_age=0 is prompt=login; otherwise re-authenticate when older.
    if req["max_age"] is not None and (req["max_age"] == 0 or now - session.auth_time > req["max_age"]):
        return True
    return bool(req["hint_subject"] and req["hint_subject"] != session.user_id)


def needs_step_up(client: Client, acr_values: Sequence[str] | None, session: BrowserSession) -> bool:
    """This client (or the request's acr_values) needs a second factor the session has not proven."""
    return (client.require_mfa or ACR_MFA in (acr_values or ())) and session.acr != ACR_MFA


async def require_enrolled_second_factor(svc: Services, client: Client, user_id: str) -> None:
    """A step-up can only ask for a factor the user has (an authenticator app or a passkey): without one,
    the client refuses them (403)."""
    if not await run_sync(has_second_factor, svc, user_id):
        raise PageError(
            f"{client.name} requires two-step verification or a passkey. Set one up on your account page, "
            f"then sign in to {client.name} again.",
            title="Two-step verification required",
            status_code=403,
        )


async def advance(
    request: Request,
    svc: Services,
    it: state.Interaction,
    session: BrowserSession | None,
    *,
    persisted: bool,
    status: int = 303,
) -> Response:
    req = it.request
    if req.get("kind") == "account":
        # Signing in to the account page itself: no client, no consent.
        if session is None:
            await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
            return RedirectResponse("/login?" + urlencode({"interaction": it.id}), status_code=status)
        await run_sync(state.finish, svc.cache, it)
        return RedirectResponse(req.get("next") or "/account", status_code=status)
    if req.get("kind") == "device":
        # After the login step of a device approval, the user confirms on the device page.
        target = "/login" if session is None else "/device/confirm"
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        return RedirectResponse(f"{target}?" + urlencode({"interaction": it.id}), status_code=303)
    client = await run_sync(svc.clients.get, it.client_id) if it.client_id else None
    if client is None or client.disabled:
        raise PageError("The application that sent you here is no longer registered.")
    now = int(svc.clock())  # the code's created_at and expires_at, on the clock the token endpoint reads
    redirect_uri, mode, client_state = req["redirect_uri"], req["response_mode"], req["state"]

    if "create" in it.prompt and it.authenticated_user is None:
        # Registration §4: the sign-up page first; it links to sign-in, and either continues this request.
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        return RedirectResponse("/signup?" + urlencode({"interaction": it.id}), status_code=status)
    if needs_login(it, session, now):
        if "none" in it.prompt:
            return error_to_client(
                svc, redirect_uri, "login_required", "The user must sign in", client_state, mode, status=status
            )
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        return RedirectResponse("/login?" + urlencode({"interaction": it.id}), status_code=status)
    assert session is not None  # noqa: S101 - an invariant for the type checker, not input validation

    if needs_step_up(client, req.get("acr_values"), session):
        await require_enrolled_second_factor(svc, client, session.user_id)
        if "none" in it.prompt:
            return error_to_client(
                svc, redirect_uri, "login_required", "A second factor is required", client_state, mode, status=status
            )
        it.authenticated_user = None
        await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
        return RedirectResponse("/login?" + urlencode({"interaction": it.id}), status_code=status)

    if not client.first_party and not it.consented:
        granted = await run_sync(svc.store.get_consent, session.user_id, client.client_id)
        if "consent" in it.prompt or not consent_scopes(req["scopes"], req["claims"]) <= granted:
            if "none" in it.prompt:
                return error_to_client(
                    svc,
                    redirect_uri,
                    "consent_required",
                    "The user must approve access",
                    client_state,
                    mode,
                    status=status,
                )
            await run_sync(state.save, svc.cache, it, svc.settings.interaction_ttl)
            return RedirectResponse("/consent?" + urlencode({"interaction": it.id}), status_code=status)

    if persisted and not await run_sync(state.finish, svc.cache, it):
        raise PageError(EXPIRED, title="Sign-in expired")
    code = secrets.token_urlsafe(32)
    record = AuthCode(
        code_hash=token_hash(code),
        grant_id=secrets.token_urlsafe(16),
        client_id=client.client_id,
        user_id=session.user_id,
        redirect_uri=redirect_uri,
        scope=" ".join(req["scopes"]),
        nonce=req["nonce"],
        code_challenge=req["code_challenge"],
        code_challenge_method=req["code_challenge_method"],
        auth_time=session.auth_time,
        amr=session.amr,
        acr=session.acr,
        sid=session.sid,
        claims=req["claims"],
        resources=tuple(req["resources"]),
        dpop_jkt=req.get("dpop_jkt"),  # absent from interactions stored before RFC 9449 §10 support
        created_at=now,
        expires_at=now + svc.settings.auth_code_ttl,
    )
    await run_sync(svc.store.add_code, record)
    await run_sync(svc.backchannel.signed_in, session, client, now)
    await emit(
        svc,
        request,
        "authorization_code.issued",
        client_id=client.client_id,
        user_id=session.user_id,
        grant_id=record.grant_id,
    )
    return to_client(svc, redirect_uri, {"code": code, "state": client_state}, mode, status=status)


async def load_for_browser(
    request: Request, svc: Services, interaction_id: str | None, browser: str
) -> state.Interaction:
    it = await run_sync(state.load, svc.cache, interaction_id or "")
    if it is None:
        raise PageError(EXPIRED, title="Sign-in expired")
    if not secrets.compare_digest(it.browser, browser):
        raise PageError(
            "This sign-in was started in another browser. Go back to the application and start again.",
            title="Sign-in expired",
        )
    return it
