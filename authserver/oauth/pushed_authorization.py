"""POST /par: the pushed authorization request endpoint (RFC 9126 §2).

The client authenticates exactly as at the token endpoint; the request is validated at once, as
/authorize would validate it (§2.1), and stored under a fresh single-use request_uri.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authserver.domain import AUTH_METHODS
from authserver.oauth.authorize_request import AuthorizeError, AuthorizeFatal, supported_prompts, validate
from authserver.oauth.dpop import DPoPError
from authserver.oauth.jar import RequestObjectError
from authserver.oauth.par import EXPIRES_IN
from authserver.oauth.requests import OAuthRequest

if TYPE_CHECKING:
    from authserver.oauth.server import AuthorizationServer

Response = tuple[int, dict[str, Any], list[tuple[str, str]]]
# Client authentication travels with the push; it is not part of the authorization request.
_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


def _error(error: str, description: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return 400, {"error": error, "error_description": description}, headers or []


def pushed_authorization_response(server: AuthorizationServer, request: OAuthRequest) -> Response:
    # Authentication failures raise authlib's errors; the server renders them as at /token.
    client = server.authenticate_client(request, AUTH_METHODS, "pushed_authorization").record
    pairs = [(k, v) for k, values in request.payload.datalist.items() if k not in _AUTH_PARAMS for v in values]
    names = [k for k, _ in pairs]
    if "request_uri" in names:
        # RFC 9126 §2.1: "The request_uri authorization request parameter MUST NOT be provided".
        return _error("invalid_request", "request_uri must not be pushed")
    if "client_id" not in names:
        pairs.insert(0, ("client_id", client.client_id))
    signed = False
    if "request" in names:
        if names.count("request") > 1:
            return _error("invalid_request", "Send one request object")
        try:
            # RFC 9126 §3: the request object's parameters replace the pushed ones.
            pairs = server.request_objects.decode(client, dict(pairs)["request"])
        except RequestObjectError as exc:
            return _error("invalid_request_object", str(exc))
        signed = True
    nonce_header: list[tuple[str, str]] = []
    if request.dpop_proofs:
        # RFC 9449 §10.1: a proof sent with the push binds the code as if its key's thumbprint had been
        # sent as dpop_jkt; when both are sent they must name the same key.
        try:
            proof = server.dpop_proof(request.dpop_proofs, "POST", server.settings.issuer + "/par")
        except DPoPError as exc:
            return _error(exc.error, exc.description, server.dpop_nonce_header())
        nonce_header = server.dpop_nonce_header()
        given = [v for k, v in pairs if k == "dpop_jkt"]
        if not given:
            pairs.append(("dpop_jkt", proof.jkt))
        elif given != [proof.jkt]:
            return _error("invalid_request", "dpop_jkt does not match the key of the DPoP proof", nonce_header)
    try:
        validate(
            pairs,
            lambda client_id: client if client_id == client.client_id else None,
            require_pkce=server.settings.require_pkce,
            verify_id_token_hint=server.id_tokens.verify_hint,
            pushed=True,
            signed=signed,
            prompts=supported_prompts(server.settings.signup == "open"),
        )
    except AuthorizeFatal as exc:
        return _error("invalid_request", str(exc).rstrip("."))
    except AuthorizeError as exc:
        return _error(exc.error, exc.description)
    request_uri = server.pushed_requests.push(client.client_id, pairs, signed=signed)
    server.events.emit("authorization_request.pushed", client_id=client.client_id, signed=signed)
    return 201, {"request_uri": request_uri, "expires_in": EXPIRES_IN}, nonce_header
