"""GET/POST /logout: OpenID Connect RP-Initiated Logout 1.0.

- post_logout_redirect_uri is honoured only if registered for the client (named by client_id or by
  the id_token_hint's audience) and the client is not disabled, with `state` echoed; otherwise an
  error page, never a redirect;
- a valid id_token_hint for the signed-in user logs out at once; without one the user confirms (§2,
  "the OP SHOULD ask the End-User whether to log out"), which also defeats logout CSRF.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.concurrency import run_sync
from authserver.domain import Client
from authserver.i18n import N_
from authserver.interaction.sessions import clear_session_cookie, current_session, end_session_sync
from authserver.services import Services, services
from authserver.web.cookies import attach_csrf, check_csrf, csrf_token
from authserver.web.forms import parse_pairs, read_form
from authserver.web.pages import PageError

FIELDS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id", "logout_hint", "ui_locales")


def _resolve(svc: Services, params: dict[str, str]) -> tuple[dict[str, Any] | None, Client | None, str | None]:
    svc.keyring.refresh_if_stale()
    hint = None
    if params.get("id_token_hint"):
        hint = svc.server.id_tokens.verify_hint(params["id_token_hint"])
    client_id = params.get("client_id")
    if hint is not None:
        aud = hint.get("aud")
        audiences = [aud] if isinstance(aud, str) else list(aud or [])
        if client_id and client_id not in audiences:
            raise PageError(N_("The logout request names a different application than its ID token."))
        client_id = client_id or (audiences[0] if audiences else None)
    client = svc.clients.get(client_id) if client_id else None
    if client is not None and client.disabled:
        # A disabled application is no application: no redirect to it, no name on the page. (Its ID
        # tokens still verify, so a hint alone would otherwise send the browser back to it.)
        client = None
    redirect = params.get("post_logout_redirect_uri")
    if redirect:
        if client_id and client is None:
            raise PageError(N_("The application that sent you here is not registered."))
        if client is None:
            raise PageError(N_("The logout request does not say which application it comes from."))
        if redirect not in client.post_logout_redirect_uris:
            raise PageError(N_("The address to return to after logout is not registered for this application."))
    return hint, client, redirect


def _done(svc: Services, redirect: str | None, state: str | None) -> Response:
    if redirect:
        # §3: redirect to the registered URI with state; `iss` belongs to authorization responses only.
        location = redirect + (("&" if "?" in redirect else "?") + urlencode({"state": state}) if state else "")
        response: Response = RedirectResponse(location, status_code=303)
    else:
        response = svc.pages.render("logged_out.html", {})
    clear_session_cookie(response, svc)
    return response


async def logout(request: Request) -> Response:
    svc = services(request)
    if request.method == "POST":
        pairs = await read_form(request, svc.settings.max_body_bytes)
    else:
        try:
            pairs = parse_pairs(request.url.query)
        except Exception:
            raise PageError(N_("The logout request is malformed.")) from None
    params = {k: v for k, v in pairs if k in FIELDS or k in ("csrf_token", "confirm")}
    hint, client, redirect = await run_sync(_resolve, svc, params)
    session = await current_session(request, svc)
    state = params.get("state")

    confirmed = False
    if request.method == "POST" and params.get("confirm") == "yes":
        check_csrf(request, svc.settings, params)
        confirmed = True
    hint_matches = hint is not None and (session is None or hint["sub"] == session.user_id)
    if session is not None and not (confirmed or hint_matches):
        response = svc.pages.render(
            "logout.html",
            {
                "csrf_token": csrf_token(request, svc.settings),
                # The hint is not echoed into the page; the client it named travels as client_id.
                "fields": [(k, params[k]) for k in FIELDS if k in params and k not in ("id_token_hint", "client_id")]
                + ([("client_id", client.client_id)] if client else []),
                "client_name": client.name if client else None,
            },
            form_targets=[redirect] if redirect else (),
        )
        attach_csrf(request, response, svc.settings)
        return response
    if session is not None:
        await run_sync(end_session_sync, svc, session, reason="logout")
    return _done(svc, redirect, state)
