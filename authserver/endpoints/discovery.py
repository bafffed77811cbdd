"""OpenID Provider / OAuth 2.0 Authorization Server metadata (OIDC Discovery 1.0 §3, RFC 8414 §2).

Built from what is actually registered, so nothing is advertised that does not work.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send

from authserver.domain import ACR_MFA, ACR_PASSWORD, AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from authserver.oauth.authorize_request import RESPONSE_MODES, supported_prompts
from authserver.oauth.claims import STANDARD_SCOPES, SUPPORTED_CLAIMS
from authserver.oauth.client_auth import ASSERTION_ALGS
from authserver.oauth.dpop import ALGORITHMS as DPOP_ALGS
from authserver.oauth.jar import ALGORITHMS as REQUEST_OBJECT_ALGS
from authserver.services import Services
from authserver.web.responses import Published, json_bytes

MAX_AGE = 300


def metadata(svc: Services) -> dict[str, Any]:
    issuer = svc.settings.issuer
    all_methods = list(AUTH_METHODS)
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "end_session_endpoint": f"{issuer}/logout",
        "device_authorization_endpoint": f"{issuer}/device_authorization",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        # RFC 7591 §3 (RFC 8414 §2): open, or with an initial access token (AUTHSERVER_DYNAMIC_REGISTRATION).
        "registration_endpoint": f"{issuer}/register",
        "require_pushed_authorization_requests": svc.settings.require_pushed_authorization_requests,
        "scopes_supported": list(STANDARD_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": svc.server.grant_types,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "access_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": all_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": all_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": list(supported_prompts(svc.settings.signup == "open")),
        "claims_supported": [
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "sid",
            "azp",
            "at_hash",
            *SUPPORTED_CLAIMS,
        ],
        "acr_values_supported": [ACR_PASSWORD, ACR_MFA],
        # OIDC Discovery §3: the languages of our pages (ui_locales picks among them).
        "ui_locales_supported": svc.pages.catalogs.languages,
        "claims_parameter_supported": True,
        # RFC 9101: signed request objects at /authorize and /par; request_uri only from our own
        # PAR endpoint (nothing is fetched), so the general request_uri parameter is not advertised.
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": REQUEST_OBJECT_ALGS,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "resource_indicators_supported": True,
        # RFC 9449 §5.1: at /token for every grant, and at /userinfo.
        "dpop_signing_alg_values_supported": DPOP_ALGS,
        # OIDC Back-Channel Logout 1.0 §2.1: logout tokens always carry sid (and sub).
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }


def published(svc: Services) -> Published:
    return Published(json_bytes(metadata(svc)), "application/json", MAX_AGE)


class Discovery:
    """The metadata document, built at start-up (app.py's lifespan); an ASGI endpoint, no Request or
    Response objects per request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        document: Published = scope["app"].state.discovery
        await document.send(scope, send)


discovery = Discovery()
