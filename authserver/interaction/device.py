"""The hosted pages of the device grant (RFC 8628 §3.3): enter the code, sign in, confirm.

verification_uri_complete only pre-fills the code; the user still submits it and then approves on a
page naming the device's client and scopes (§5.4: no one-click approval). Code entries go through the
one throttle (security/throttle.py): reserved per source address (IPv6: per /64) and per signed-in
account before the lookup, and every wrong code, unknown or expired, gets the same answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.i18n import N_
from authserver.interaction import state
from authserver.interaction.events import client_ip, emit
from authserver.interaction.flow import (
    EXPIRED,
    go_to,
    needs_step_up,
    require_enrolled_second_factor,
)
from authserver.interaction.page import Handles, open_interaction, open_page
from authserver.interaction.sessions import current_session
from authserver.oauth.claims import consent_items
from authserver.oauth.device import display, normalise
from authserver.services import Services
from authserver.web.addresses import source_key
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError, client_presentation

WRONG_CODE = N_("That code is not valid or has expired. Check the code on your device and try again.")
TOO_MANY = N_("Too many wrong codes. Wait a few minutes, then try again.")


def _entry_page(svc: Services, request: Request, user_code: str, error: str | None, status: int = 200) -> Response:
    response = svc.pages.render(
        "device.html",
        {"csrf_token": csrf_token(request, svc.settings), "user_code": user_code, "error": error},
        status=status,
    )
    attach_csrf(request, response, svc.settings)
    return response


async def device(request: Request) -> Response:
    page = await open_page(request)
    svc, form = page.svc, page.form
    if not page.posted:
        prefill = (page.query.get("user_code") or "")[:32]
        return _entry_page(svc, request, prefill, None)

    await run_sync(svc.limits.hit, "device_entry_ip", source_key(client_ip(request)))
    entered = form.get("user_code", "")[:64]
    session = await current_session(request, svc)
    # Reserved before the lookup (the one throttle): parallel guesses cannot exceed the limit.
    counters = svc.throttle.for_user_code(source_key(client_ip(request)), session.user_id if session else None)
    reservation = await run_sync(svc.throttle.reserve, counters)
    if not reservation.allowed:
        await emit(svc, request, "device_code.throttled")
        return _entry_page(svc, request, entered, TOO_MANY, status=429)
    code = normalise(entered)
    record = await run_sync(svc.store.find_pending_user_code, code, int(svc.clock())) if code else None
    if record is None:
        await run_sync(lambda: svc.throttle.failed(reservation, ip=client_ip(request)))
        await emit(svc, request, "device_code.rejected")
        return _entry_page(svc, request, entered, WRONG_CODE, status=400)
    # A right code is not a guess: the attempt is given back (the counts are not cleared).
    await run_sync(lambda: svc.throttle.succeeded(reservation, complete=False))

    it = state.new_interaction(
        state.DeviceFlow(
            client_id=record.client_id,
            device_code_hash=record.device_code_hash,
            user_code=record.user_code,
            scopes=tuple(record.scope.split()),
            acr_values=record.acr_values,
        ),
        page.browser,
        int(svc.clock()),
    )
    return await go_to(svc, it, state.Step.CONFIRM if session else state.Step.LOGIN)


# A device request whose code was entered and whose user signed in; before that, the step it waits on.
CONFIRM_PAGE = Handles(frozenset({state.Step.CONFIRM}), frozenset({state.FlowKind.DEVICE}))


async def confirm(request: Request) -> Response:
    opened = await open_interaction(request, CONFIRM_PAGE)
    if isinstance(opened, Response):
        return opened
    page, it = opened
    svc, form = page.svc, page.form
    flow = it.flow
    if not isinstance(flow, state.DeviceFlow):
        raise PageError(EXPIRED, title=N_("Sign-in expired"))
    session = await current_session(request, svc)
    if session is None:
        return await go_to(svc, it, state.Step.LOGIN)
    client = await run_sync(svc.clients.get, flow.client_id)
    if client is None or client.disabled:
        raise PageError(N_("The device's application is no longer registered."))
    if needs_step_up(client, flow.acr_values, session) and form.get("decision") != "deny":
        # The same step-up as /authorize (--require-mfa, acr_values): a user with a second factor
        # signs in again with both; one without is refused. Denying needs no second factor.
        await require_enrolled_second_factor(svc, client, session.user_id)
        return await go_to(svc, it, state.Step.LOGIN)

    if not page.posted:
        user = await run_sync(svc.store.get_user, session.user_id)
        response = svc.pages.render(
            "device_confirm.html",
            {
                "csrf_token": csrf_token(request, svc.settings),
                "interaction": it.id,
                "client_name": client.name,
                "user_code": display(flow.user_code),
                "items": consent_items(flow.scopes, None),
                "username": user.username if user else "",
                **client_presentation(client),
            },
            images=[client.client_metadata.get("logo_uri")],
        )
        attach_csrf(request, response, svc.settings)
        return response

    decision = form.get("decision")
    if decision not in ("allow", "deny"):
        raise PageError(N_("Choose Allow or Deny."))
    if not await run_sync(state.finish, svc.cache, it):
        raise PageError(EXPIRED, title=N_("Sign-in expired"))
    decided = await run_sync(
        lambda: svc.store.decide_device_code(
            flow.device_code_hash,
            approved=decision == "allow",
            user_id=session.user_id,
            auth_time=session.auth_time,
            amr=session.amr,
            acr=session.acr,
            sid=session.sid,
            now=int(svc.clock()),
        )
    )
    if not decided:
        raise PageError(
            N_("This code has expired or was already used. Start again on your device."), title=N_("Code expired")
        )
    await emit(
        svc,
        request,
        "device_code.approved" if decision == "allow" else "device_code.denied",
        client_id=client.client_id,
        user_id=session.user_id,
    )
    return svc.pages.render("device_done.html", {"approved": decision == "allow", "client_name": client.name})
