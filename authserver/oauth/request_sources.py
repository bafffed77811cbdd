"""Where an authorization request's parameters come from (RFC 9126 §4, RFC 9101 §5):

- `request_uri` from our pushed authorization request endpoint: only the pushed parameters count;
- `request`, a signed request object: only its claims count;
- otherwise the query (or form) itself.
A `request_uri` pointing anywhere else is refused; nothing is ever fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from authserver.domain import Client
from authserver.i18n import N_
from authserver.oauth.authorize_request import (
    PROMPTS,
    AuthorizationRequest,
    AuthorizeError,
    AuthorizeFatal,
    redirect_uri_matches,
    validate,
)
from authserver.oauth.jar import RequestObjectError, RequestObjects
from authserver.oauth.par import PushedRequests, RequestUriError, is_pushed_uri


def resolve(
    pairs: Sequence[tuple[str, str]],
    find_client: Callable[[str], Client | None],
    *,
    pushed_requests: PushedRequests,
    request_objects: RequestObjects,
    require_pkce: bool,
    require_par: bool,
    verify_id_token_hint: Callable[[str], dict[str, Any] | None],
    prompts: Sequence[str] = PROMPTS,
) -> AuthorizationRequest:
    def check(inner: Sequence[tuple[str, str]], *, pushed: bool = False, signed: bool = False) -> AuthorizationRequest:
        return validate(
            inner,
            find_client,
            require_pkce=require_pkce,
            verify_id_token_hint=verify_id_token_hint,
            require_par=require_par,
            pushed=pushed,
            signed=signed,
            prompts=prompts,
        )

    names = [k for k, _ in pairs]
    has_uri, has_object = "request_uri" in names, "request" in names
    if not (has_uri or has_object):
        return check(pairs)
    outer = dict(pairs)
    client = _outer_client(names, outer, find_client)
    if names.count("request_uri") > 1 or names.count("request") > 1 or (has_uri and has_object):
        raise _early(outer, client, "invalid_request", "Send one request or one request_uri")
    if has_uri:
        uri = outer["request_uri"]
        if not is_pushed_uri(uri):
            # RFC 9101 §7: invalid_request_uri; only our own pushed requests are ever dereferenced.
            raise _early(outer, client, "invalid_request_uri", "Only request_uri values from our PAR endpoint work")
        try:
            pushed = pushed_requests.take(uri, client.client_id)
        except RequestUriError as exc:
            raise _early(outer, client, "invalid_request_uri", str(exc)) from None
        return check(pushed.pairs, pushed=True, signed=pushed.signed)
    try:
        inner = request_objects.decode(client, outer["request"])
    except RequestObjectError as exc:
        raise _early(outer, client, "invalid_request_object", str(exc)) from None
    return check(inner, signed=True)


def _outer_client(names: list[str], outer: dict[str, str], find_client: Callable[[str], Client | None]) -> Client:
    # RFC 9101 §5 / RFC 9126 §4: client_id stays in the outer request, so the client is known first.
    client_id = outer.get("client_id")
    if not client_id or names.count("client_id") > 1:
        raise AuthorizeFatal(N_("The request has no valid client_id."))
    client = find_client(client_id)
    if client is None or client.disabled:
        raise AuthorizeFatal(N_("The application that sent you here is not registered."))
    return client


def _early(outer: dict[str, str], client: Client, error: str, description: str) -> Exception:
    """Before the inner request is known, an error may go only to an outer redirect_uri that is registered."""
    redirect_uri = outer.get("redirect_uri")
    if redirect_uri and redirect_uri_matches(client, redirect_uri):
        mode = outer.get("response_mode", "query")
        return AuthorizeError(
            error, description, redirect_uri, outer.get("state"), mode if mode == "form_post" else "query"
        )
    return AuthorizeFatal(f"{description} ({error}).", error=error, detail=description)
