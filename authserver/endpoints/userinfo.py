"""GET/POST /userinfo (OIDC Core §5.3) with a Bearer access token (RFC 6750)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.errors import OAuthError
from authserver.oauth.claims import released_claims
from authserver.services import Services
from authserver.web.forms import FORM_TYPE, read_form
from authserver.web.oauth_edge import services
from authserver.web.responses import json_response


def bearer_error(error: str | None, description: str | None, status: int) -> OAuthError:
    # RFC 6750 §3: no error code when the request had no token at all.
    challenge = 'Bearer realm="authserver"'
    if error:
        challenge += f', error="{error}"'
        if description:
            challenge += f', error_description="{description}"'
    exc = OAuthError(
        description, error=error or "invalid_request", status_code=status, headers={"www-authenticate": challenge}
    )
    return exc


async def _token(request: Request, svc: Services) -> str:
    header = request.headers.get("authorization")
    from_header = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            # RFC 6750 §3.1: no usable credentials is a bare 401 challenge.
            raise bearer_error(None, None, 401)
        if not value.strip():
            raise bearer_error("invalid_request", "The Bearer token is empty", 400)
        from_header = value.strip()
    from_body = None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type == FORM_TYPE:
        from_body = dict(await read_form(request, svc.settings.max_body_bytes)).get("access_token")
    if from_header and from_body:
        # RFC 6750 §2: clients MUST NOT use more than one method to transmit the token.
        raise bearer_error("invalid_request", "Send the token in one place only", 400)
    token = from_header or from_body
    if not token:
        raise bearer_error(None, None, 401)
    return token


def _claims(svc: Services, token: str) -> dict[str, Any]:
    svc.keyring.refresh_if_stale()
    access = svc.server.issuer.verify_access_token(token)
    if access is None or not svc.server.tokens.access_token_active(access):
        raise bearer_error("invalid_token", "The access token is invalid, expired or revoked", 401)
    scope = access.claims.get("scope", "").split()
    if "openid" not in scope or access.claims.get("sub") == access.client_id:
        raise bearer_error("insufficient_scope", "The access token has no openid scope", 403)
    user = svc.store.get_user(access.claims["sub"])
    if user is None or user.disabled:
        raise bearer_error("invalid_token", "The user is no longer active", 401)
    claims = {"sub": user.id}
    claims.update(released_claims(user, " ".join(scope), access.claims.get("uic")))
    return claims


async def userinfo(request: Request) -> Response:
    svc = services(request)
    token = await _token(request, svc)
    return json_response(await run_sync(_claims, svc, token))
