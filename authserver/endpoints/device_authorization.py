"""POST /device_authorization (RFC 8628 §3.1)."""

from starlette.requests import Request
from starlette.responses import Response

from authserver.endpoints.protocol import run_core


async def device_authorization(request: Request) -> Response:
    return await run_core(
        request, lambda svc: lambda req: svc.server.device_authorization_response(req), limit="device_authorization"
    )
