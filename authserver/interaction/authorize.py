"""GET/POST /authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.errors import OAuthError
from authserver.i18n import N_, Message
from authserver.interaction import state
from authserver.interaction.flow import advance
from authserver.interaction.respond import error_to_client
from authserver.interaction.sessions import current_session
from authserver.oauth.authorize_request import AuthorizationRequest, AuthorizeError, AuthorizeFatal, supported_prompts
from authserver.oauth.request_sources import resolve
from authserver.services import services
from authserver.web.cookies import attach_csrf, browser_binding, csrf_token
from authserver.web.forms import parse_pairs, read_form
from authserver.web.pages import PageError

# What the person reads when a request cannot even go back to the application (RFC 6749 §4.1.2.1): what
# happened, by error code, then what to do; the protocol's own description is shown as a technical detail.
EXPLAINED = {
    "invalid_request": N_("The application sent a sign-in request that is incomplete or not valid."),
    "invalid_request_uri": N_(
        "The sign-in request that the application prepared has expired, was already used, or is not valid."
    ),
    "invalid_request_object": N_("The signed sign-in request of the application could not be accepted."),
}
NOT_ACCEPTED = N_("The application sent a sign-in request that cannot be accepted.")
WHAT_NEXT = N_(
    "Go back to the application and start again. If it happens again, contact the application's support and "
    "give them the reference below."
)


def refused_page(exc: AuthorizeFatal) -> PageError:
    """The page for a request that cannot go back to the client: what happened, and what to do next."""
    happened = EXPLAINED.get(exc.error, NOT_ACCEPTED) if exc.error else str(exc)
    detail = f"{exc.error}: {exc.detail}" if exc.error else None
    message = Message("%(happened)s %(next)s", happened=Message(happened), next=Message(WHAT_NEXT))
    return PageError(message, title=N_("Sign-in request refused"), detail=detail)


async def _params(request: Request, max_bytes: int) -> list[tuple[str, str]]:
    if request.method == "POST":
        try:
            return await read_form(request, max_bytes)
        except OAuthError as exc:
            raise PageError(
                Message(
                    "%(happened)s %(next)s", happened=Message(N_("The request is malformed.")), next=Message(WHAT_NEXT)
                ),
                status_code=exc.status_code,
                detail=exc.description,
            ) from None
    try:
        # Repeated parameters are left to validate(), which tells the client which one.
        return parse_pairs(request.url.query, refuse_repeats=False)
    except OAuthError:
        raise PageError(N_("The request is malformed.")) from None


def authorize_flow(authz: AuthorizationRequest) -> state.AuthorizeFlow:
    """What the later steps of the interaction need from the validated request."""
    return state.AuthorizeFlow(
        client_id=authz.client.client_id,
        redirect_uri=authz.redirect_uri,
        response_mode="form_post" if authz.response_mode == "form_post" else "query",
        scopes=tuple(authz.scopes),
        state=authz.state,
        nonce=authz.nonce,
        code_challenge=authz.code_challenge,
        code_challenge_method=authz.code_challenge_method,
        prompt=authz.prompt,
        max_age=authz.max_age,
        login_hint=authz.login_hint,
        hint_subject=authz.hint_subject,
        acr_values=tuple(authz.acr_values),
        claims=authz.claims,
        resources=tuple(authz.resources),
        dpop_jkt=authz.dpop_jkt,
        ui_locales=authz.ui_locales,
    )


async def authorize(request: Request) -> Response:
    svc = services(request)
    pairs = await _params(request, svc.settings.max_body_bytes)

    def check() -> AuthorizationRequest:
        svc.keyring.refresh_if_stale()
        return resolve(
            pairs,
            svc.clients.get,
            pushed_requests=svc.server.pushed_requests,
            request_objects=svc.server.request_objects,
            require_pkce=svc.settings.require_pkce,
            require_par=svc.settings.require_pushed_authorization_requests,
            verify_id_token_hint=svc.server.id_tokens.verify_hint,
            prompts=supported_prompts(svc.settings.signup == "open"),
        )

    try:
        authz = await run_sync(check)
    except AuthorizeFatal as exc:
        raise refused_page(exc) from None
    except AuthorizeError as exc:
        return error_to_client(
            svc, exc.redirect_uri, exc.error, exc.description, exc.state, exc.response_mode, status=302
        )
    session = await current_session(request, svc)
    token = csrf_token(request, svc.settings)
    it = state.new_interaction(authorize_flow(authz), browser_binding(token), int(svc.clock()))
    response = await advance(request, svc, it, session, persisted=False, status=302)
    attach_csrf(request, response, svc.settings)
    return response
