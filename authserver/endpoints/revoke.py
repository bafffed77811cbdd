"""POST /revoke (RFC 7009)."""

from starlette.requests import Request
from starlette.responses import Response

from authserver.endpoints.protocol import run_core


async def revoke(request: Request) -> Response:
    return await run_core(
        request, lambda svc: lambda req: svc.server.endpoint_response("revocation", req), limit="revoke"
    )
