"""The edge between Starlette and the authlib core: read the form on the loop, run the core off it."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.oauth.requests import OAuthRequest
from authserver.services import Services
from authserver.web.forms import read_form
from authserver.web.responses import json_response

CoreCall = Callable[[OAuthRequest], tuple[int, dict, list[tuple[str, str]]]]


def services(request: Request) -> Services:
    return request.state.services


async def form_oauth_request(request: Request, svc: Services) -> OAuthRequest:
    form = await read_form(request, svc.settings.max_body_bytes)
    return OAuthRequest(
        request.method,
        svc.settings.issuer + request.url.path,
        request.headers,
        form=form,
        client_ip=request.client.host if request.client else None,
    )


async def run_core(request: Request, call: Callable[[Services], CoreCall]) -> Response:
    svc = services(request)
    oauth_request = await form_oauth_request(request, svc)

    def work() -> tuple[int, dict, list[tuple[str, str]]]:
        svc.keyring.refresh_if_stale()
        return call(svc)(oauth_request)

    status, body, headers = await run_sync(work)
    return json_response(body, status, headers)
