"""POST /par (RFC 9126 §2): counted against the client's token-endpoint rate limit."""

from starlette.requests import Request
from starlette.responses import Response

from authserver.endpoints.protocol import run_core


async def pushed_authorization(request: Request) -> Response:
    return await run_core(request, lambda svc: svc.server.pushed_authorization, limit="token")
