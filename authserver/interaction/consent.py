"""GET/POST /consent: the user allows or denies the client the requested scopes.

Consent is remembered per user and client (the union of scopes granted); a later request for
scopes already granted skips this page unless prompt=consent.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.i18n import N_
from authserver.interaction import state
from authserver.interaction.events import emit
from authserver.interaction.flow import EXPIRED, advance, go_to
from authserver.interaction.page import Handles, open_interaction
from authserver.interaction.respond import error_to_client
from authserver.interaction.sessions import current_session
from authserver.oauth.claims import consent_items, consent_scopes
from authserver.services import Services
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError, client_presentation


def _page(svc: Services, request: Request, it: state.Interaction, flow: state.AuthorizeFlow, username: str) -> Response:
    client = svc.clients.get(flow.client_id)
    if client is None:
        raise PageError(N_("The application that sent you here is no longer registered."))
    response = svc.pages.render(
        "consent.html",
        {
            "interaction": it.id,
            "csrf_token": csrf_token(request, svc.settings),
            "client_name": client.name,
            "items": consent_items(flow.scopes, flow.claims),
            "username": username,
            **client_presentation(client),
        },
        form_targets=it.form_targets,
        images=[client.client_metadata.get("logo_uri")],
    )
    attach_csrf(request, response, svc.settings)
    return response


# An authorization request waiting for approval; before the sign-in, back to the login page (nothing recorded).
CONSENT_PAGE = Handles(frozenset({state.Step.CONSENT}), frozenset({state.FlowKind.AUTHORIZE}))


async def consent(request: Request) -> Response:
    opened = await open_interaction(request, CONSENT_PAGE)
    if isinstance(opened, Response):
        return opened
    page, it = opened
    svc, form = page.svc, page.form
    flow = it.flow
    if not isinstance(flow, state.AuthorizeFlow):  # a device or account sign-in has no consent step here
        raise PageError(EXPIRED, title=N_("Sign-in expired"))
    session = await current_session(request, svc)
    if session is None:
        # The session ended meanwhile: sign in again, then come back here.
        return await go_to(svc, it, state.Step.LOGIN)
    if not page.posted:
        user = await run_sync(svc.store.get_user, session.user_id)
        return await run_sync(_page, svc, request, it, flow, user.username if user else "")

    decision = form.get("decision")
    if decision not in ("allow", "deny"):
        raise PageError(N_("Choose Allow or Deny."))
    if decision == "deny":
        if not await run_sync(state.finish, svc.cache, it):
            raise PageError(EXPIRED, title=N_("Sign-in expired"))
        await emit(svc, request, "consent.denied", user_id=session.user_id, client_id=it.client_id)
        return error_to_client(
            svc, flow.redirect_uri, "access_denied", "The user denied the request", flow.state, flow.response_mode
        )
    granted = consent_scopes(flow.scopes, flow.claims)
    await run_sync(svc.store.add_consent, session.user_id, flow.client_id, granted, int(svc.clock()))
    await emit(
        svc,
        request,
        "consent.granted",
        user_id=session.user_id,
        client_id=it.client_id,
        scope=" ".join(sorted(granted)),
    )
    it.consented = True
    return await advance(request, svc, it, session, persisted=True)
