"""The protocol endpoints' one shape: read the form on the loop, run the protocol core off it (or, when
it needs no I/O at all, on the loop: see run_core), answer JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver import logs
from authserver.concurrency import run_sync
from authserver.oauth.client_auth import basic_credentials
from authserver.oauth.errors import ProtocolError
from authserver.oauth.requests import OAuthRequest
from authserver.security import jws_rs256
from authserver.services import Services, services
from authserver.web.addresses import source_key
from authserver.web.forms import read_form
from authserver.web.responses import json_response

CoreCall = Callable[[OAuthRequest], tuple[int, dict[str, Any], list[tuple[str, str]]]]


async def form_oauth_request(request: Request, svc: Services) -> OAuthRequest:
    form = await read_form(request, svc.settings.max_body_bytes)
    ip = request.client.host if request.client else None
    return OAuthRequest(
        request.method,
        svc.settings.issuer + request.scope["path"],  # (request.url parses the Host header into a URL)
        request.headers,
        form=form,
        client_ip=ip,
        source=source_key(ip),
        dpop_proofs=request.headers.getlist("dpop"),
    )


def claimed_client_id(request: OAuthRequest) -> str | None:
    """The client a request says it is (Basic credentials, else the form), before authentication."""
    authorization = request.headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        credentials = basic_credentials(authorization[6:].strip())
        if credentials is not None:
            return credentials[0]
    return request.form.get("client_id") or None


# A predicate per endpoint: can the core answer this request from memory alone? (See run_core.)
FastPath = Callable[[Services, OAuthRequest], Awaitable[bool]]


async def client_credentials_in_memory(svc: Services, request: OAuthRequest) -> bool:
    """A client_credentials grant needs the client record and the signing key, nothing else."""
    return request.payload.grant_type == "client_credentials"


async def introspection_in_memory(svc: Services, request: OAuthRequest) -> bool:
    """A client's own JWT needs the client records, the public key and the revocation entries, which are
    read here on the event loop in one round trip. A user's token (its user is looked up) and a refresh
    token need the database."""
    token = request.form.get("token") or ""
    if token.count(".") != 2 or len(token) > 8192:
        return False
    claims = jws_rs256.read_claims(token)  # unverified: only to know what to read ahead
    client_id = claims.get("client_id") if claims is not None else None
    if claims is None or not isinstance(client_id, str):
        return True  # not one of our access tokens: inactive, answered without any lookup
    if claims.get("gid") or not svc.clients.fresh(client_id):
        return False
    if svc.denylist.sync_due():
        return False  # the check first copies entries from the database: a blocking read
    keys = svc.denylist.keys(str(claims.get("jti")), None)
    values = await svc.cache.get_many_async(keys)
    if values[-1] is None:
        return False  # an emptied cache: the check reloads the denylist from the database first
    request.denylist = dict(zip(keys, values, strict=True))
    return True


async def run_core(
    request: Request, call: Callable[[Services], CoreCall], *, limit: str, fast: FastPath | None = None
) -> Response:
    """Run one client-authenticated endpoint. `limit` names its budgets: `<limit>_ip` per source address,
    charged here before any lookup (so rotating made-up client_ids costs the caller's address, not the
    database), and `<limit>` per client, charged by the server once the client authenticated.

    Blocking work (database, Redis, a cold key ring) runs in a worker thread. A request the core can
    answer from memory (the client record cached, this process holding rate-limit leases for both
    budgets, the keys loaded) runs on the event loop instead: its only cost is CPU (mostly one RSA
    signature or verification, well under a millisecond), which a thread could not run in parallel
    under the GIL anyway, and the hop itself costs as much CPU as the rest of the request."""
    svc = services(request)
    oauth_request = await form_oauth_request(request, svc)
    client_id = claimed_client_id(oauth_request)
    # A key refresh, a client record not in memory, or the replay check of a client assertion or of a
    # DPoP proof (single-use jtis in the shared cache) needs I/O.
    inline = (
        fast is not None
        and not svc.keyring.stale()
        and "client_assertion" not in oauth_request.form
        and not oauth_request.dpop_proofs
        and client_id is not None
        and svc.clients.fresh(client_id)
    )
    # The source's budget is charged first either way; without a lease left it needs a round trip.
    counted = inline = inline and svc.limits.take_local(limit + "_ip", oauth_request.source)
    if inline and fast is not None:
        inline = await fast(svc, oauth_request)
    # Last, with no await after it: the client's own budget, charged by the core once the client
    # authenticated, must find a lease here (a confidential client: the fast paths accept no other).
    if inline and client_id is not None:
        inline = svc.limits.can_take_local(limit, "client", client_id)
    if inline:
        status, body, headers = call(svc)(oauth_request)
    else:

        def work() -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
            if not counted:
                svc.limits.hit(limit + "_ip", oauth_request.source)
            svc.keyring.refresh_if_stale()
            return call(svc)(oauth_request)

        status, body, headers = await run_sync(work)
    client = oauth_request.client
    if client is not None:
        logs.bind(client_id=client.client_id)
        if status == 200 and limit == "token":
            svc.metrics.token_issued(oauth_request.payload.grant_type or "", client.client_id)
    return json_response(body, status, headers)


async def protocol_error(request: Request, exc: Exception) -> Response:
    """An authlib error that escaped the core, as RFC 6749 error JSON."""
    if not isinstance(exc, ProtocolError):  # Starlette routes only ProtocolError here
        raise exc
    status, body, headers = exc()
    return json_response(body, status, headers)


# Added to web.errors.HANDLERS by app.py: the protocol's error type is known only above the web layer.
HANDLERS = {ProtocolError: protocol_error}
