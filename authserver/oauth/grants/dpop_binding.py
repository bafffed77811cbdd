"""Which DPoP key (if any) the tokens of one token request are bound to (RFC 9449 §5).

The proof itself was checked by the server before the grant ran (`OAuthRequest.dpop`); here the
client's registration and a bound refresh token decide whether one was required.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidGrantError, OAuth2Error

from authserver.domain import Client, RefreshToken
from authserver.oauth.requests import OAuthRequest

DPOP = "DPoP"
BEARER = "Bearer"


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 §5: a token request whose DPoP proof is missing or unusable."""

    error = "invalid_dpop_proof"
    status_code = 400


def proof_key(request: OAuthRequest, client: Client) -> str | None:
    """The proof's key thumbprint, or None for a Bearer token; refuses clients that must use DPoP."""
    if request.dpop is None:
        if client.dpop_bound_access_tokens:
            # RFC 9449 §5.2: dpop_bound_access_tokens clients must always present a proof.
            raise InvalidDPoPProofError("This client must send a DPoP proof with every token request")
        return None
    return request.dpop.jkt


def check_binding(bound: str | None, jkt: str | None, what: str) -> None:
    """A grant bound to a key is usable only with a proof of that key: a refresh token (RFC 9449 §5) or
    an authorization code (§10: "If they do not match, it MUST reject the request"). Neither refusal
    spends the grant, so a thief holding it without the key cannot take it from the rightful client."""
    if bound is None:
        return
    if jkt is None:
        raise InvalidDPoPProofError(f"This {what} is bound to a DPoP key; send a proof")
    if jkt != bound:
        raise InvalidGrantError(f"This {what} is bound to another DPoP key")


def check_refresh_binding(record: RefreshToken, jkt: str | None) -> None:
    check_binding(record.dpop_jkt, jkt, "refresh token")


def refresh_binding(client: Client, jkt: str | None, previous: str | None = None) -> str | None:
    """Public clients' refresh tokens are bound (RFC 9449 §5); confidential ones authenticate instead."""
    if previous is not None:
        return previous
    return jkt if client.is_public else None


def token_type(jkt: str | None) -> str:
    return DPOP if jkt else BEARER
