"""The protocol endpoints' one shape: read the form on the loop, run the protocol core off it, answer JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver import logs
from authserver.concurrency import run_sync
from authserver.oauth.errors import ProtocolError
from authserver.oauth.requests import OAuthRequest
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
        svc.settings.issuer + request.url.path,
        request.headers,
        form=form,
        client_ip=ip,
        source=source_key(ip),
        dpop_proofs=request.headers.getlist("dpop"),
    )


async def run_core(request: Request, call: Callable[[Services], CoreCall], *, limit: str) -> Response:
    """Run one client-authenticated endpoint. `limit` names its budgets: `<limit>_ip` per source address,
    charged here before any lookup (so rotating made-up client_ids costs the caller's address, not the
    database), and `<limit>` per client, charged by the server once the client authenticated."""
    svc = services(request)
    oauth_request = await form_oauth_request(request, svc)

    def work() -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
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
