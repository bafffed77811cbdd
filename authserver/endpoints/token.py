"""POST /token (RFC 6749 §3.2)."""

from starlette.requests import Request
from starlette.responses import Response

from authserver.endpoints.protocol import client_credentials_in_memory, run_core


async def token(request: Request) -> Response:
    return await run_core(
        request, lambda svc: svc.server.token_response, limit="token", fast=client_credentials_in_memory
    )
