"""GET/POST /userinfo (OIDC Core §5.3) with a Bearer (RFC 6750) or DPoP-bound (RFC 9449 §7) access token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.errors import OAuthError
from authserver.oauth.claims import released_claims
from authserver.oauth.dpop import ALGORITHMS, DPoPError
from authserver.services import Services, services
from authserver.web.forms import FORM_TYPE, read_form
from authserver.web.responses import json_response

DPOP_CHALLENGE = 'DPoP algs="' + " ".join(ALGORITHMS) + '"'


def bearer_error(error: str | None, description: str | None, status: int) -> OAuthError:
    # RFC 6750 §3: no error code when the request had no token at all; RFC 9449 §7.1: a resource that
    # accepts DPoP says so (and with which algorithms) in a second challenge.
    challenge = 'Bearer realm="authserver"'
    if error:
        challenge += f', error="{error}"'
        if description:
            challenge += f', error_description="{description}"'
    else:
        challenge += f", {DPOP_CHALLENGE}"
    exc = OAuthError(
        description, error=error or "invalid_request", status_code=status, headers={"www-authenticate": challenge}
    )
    return exc


def dpop_error(error: str, description: str, headers: list[tuple[str, str]] | None = None) -> OAuthError:
    """RFC 9449 §7.1: a DPoP-scheme failure is a 401 with a DPoP challenge (and DPoP-Nonce for §9)."""
    challenge = f'{DPOP_CHALLENGE}, error="{error}", error_description="{description}"'
    return OAuthError(
        description, error=error, status_code=401, headers={"www-authenticate": challenge, **dict(headers or [])}
    )


@dataclass(frozen=True)
class Presented:
    token: str
    dpop: bool  # sent as "Authorization: DPoP <token>" (RFC 9449 §7.1) rather than as a Bearer token


async def _token(request: Request, svc: Services) -> Presented:
    header = request.headers.get("authorization")
    from_header = None
    dpop = False
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("bearer", "dpop"):
            # RFC 6750 §3.1: no usable credentials is a bare 401 challenge.
            raise bearer_error(None, None, 401)
        dpop = scheme.lower() == "dpop"
        if not value.strip():
            if dpop:
                raise dpop_error("invalid_request", "The DPoP token is empty")
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
    return Presented(token, dpop)


def _check_binding(svc: Services, presented: Presented, claims: dict[str, Any], proofs: list[str], method: str) -> None:
    """RFC 9449 §7: a bound token needs the DPoP scheme and a proof by its key for this request."""
    bound = (claims.get("cnf") or {}).get("jkt") if isinstance(claims.get("cnf"), dict) else None
    if not presented.dpop:
        if bound:
            # §7.2: a DPoP-bound token presented as a Bearer token is refused.
            raise dpop_error("invalid_token", "This access token is DPoP-bound: use the DPoP scheme with a proof")
        return  # an unbound Bearer token; a stray DPoP header proves nothing and is ignored
    if not bound:
        raise dpop_error("invalid_token", "This access token is not DPoP-bound: use the Bearer scheme")
    try:
        proof = svc.server.dpop_proof(proofs, method, svc.settings.issuer + "/userinfo", presented.token)
    except DPoPError as exc:
        raise dpop_error(exc.error, exc.description, svc.server.dpop_nonce_header()) from None
    if proof.jkt != bound:
        raise dpop_error("invalid_dpop_proof", "The DPoP proof is not signed by the key the token is bound to")


def _claims(svc: Services, presented: Presented, proofs: list[str], method: str) -> dict[str, Any]:
    svc.keyring.refresh_if_stale()
    access = svc.server.issuer.verify_access_token(presented.token)
    if access is None or not svc.server.tokens.access_token_active(access):
        if presented.dpop:
            raise dpop_error("invalid_token", "The access token is invalid, expired or revoked")
        raise bearer_error("invalid_token", "The access token is invalid, expired or revoked", 401)
    _check_binding(svc, presented, access.claims, proofs, method)
    aud = access.claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if svc.settings.issuer not in audiences and access.client_id not in audiences:
        # A token minted for another API (an RFC 8707 resource) is not for us: only the userinfo
        # resource (the issuer) or the default audience (the client itself) is accepted here.
        raise bearer_error("invalid_token", "The access token is not meant for the userinfo endpoint", 401)
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
    presented = await _token(request, svc)
    proofs = request.headers.getlist("dpop")
    claims = await run_sync(_claims, svc, presented, proofs, request.method)
    return json_response(claims, headers=svc.server.dpop_nonce_header() if presented.dpop else ())
