"""The edge between Starlette and the authlib core: read the form on the loop, run the core off it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.oauth.client_auth import basic_credentials
from authserver.oauth.requests import OAuthRequest
from authserver.services import Services
from authserver.web.forms import read_form
from authserver.web.responses import json_response

CoreCall = Callable[[OAuthRequest], tuple[int, dict[str, Any], list[tuple[str, str]]]]


def services(request: Request) -> Services:
    svc: Services = request.state.services
    return svc


async def form_oauth_request(request: Request, svc: Services) -> OAuthRequest:
    form = await read_form(request, svc.settings.max_body_bytes)
    return OAuthRequest(
        request.method,
        svc.settings.issuer + request.url.path,
        request.headers,
        form=form,
        client_ip=request.client.host if request.client else None,
        dpop_proofs=request.headers.getlist("dpop"),
    )


def client_identity(request: OAuthRequest) -> str:
    """Who to count a request against, before authentication: the client it claims to be, else the IP.

    Unverified on purpose (limits run before the expensive work); a client can only spend its own
    budget or that of a client_id it names, which cannot lock the real client out for long.
    """
    authorization = request.headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        credentials = basic_credentials(authorization[6:].strip())
        if credentials is not None:
            return "client:" + credentials[0][:100]
    client_id = request.form.get("client_id")
    if client_id:
        return "client:" + client_id[:100]
    return "ip:" + (request.client_ip or "unknown")


async def run_core(request: Request, call: Callable[[Services], CoreCall], *, limit: str | None = None) -> Response:
    svc = services(request)
    oauth_request = await form_oauth_request(request, svc)

    def work() -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        if limit is not None:
            svc.limits.hit(limit, client_identity(oauth_request))
        svc.keyring.refresh_if_stale()
        return call(svc)(oauth_request)

    status, body, headers = await run_sync(work)
    client = oauth_request.client
    if client is not None:
        structlog.contextvars.bind_contextvars(client_id=client.client_id)
        if status == 200 and limit == "token":
            svc.metrics.token_issued(oauth_request.payload.grant_type or "", client.client_id)
    return json_response(body, status, headers)
