"""OpenID Provider / OAuth 2.0 Authorization Server metadata (OIDC Discovery 1.0 §3, RFC 8414 §2).

Built from what is actually registered, so nothing is advertised that does not work.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.oauth.client_auth import ASSERTION_ALGS
from authserver.oauth.grants.client_credentials import CONFIDENTIAL_METHODS
from authserver.services import Services
from authserver.web.responses import json_bytes

MAX_AGE = 300


def metadata(svc: Services) -> dict:
    issuer = svc.settings.issuer
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks.json",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        # No authorization endpoint yet: no response type is supported (RFC 8414 §2 lists it as required).
        "response_types_supported": [],
        "grant_types_supported": svc.server.grant_types,
        "token_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "access_token_signing_alg_values_supported": ["RS256"],
        "resource_indicators_supported": True,
    }


def metadata_bytes(svc: Services) -> bytes:
    return json_bytes(metadata(svc))


async def discovery(request: Request) -> Response:
    return Response(
        request.app.state.discovery,
        media_type="application/json",
        headers={"cache-control": f"public, max-age={MAX_AGE}"},
    )
