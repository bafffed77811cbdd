"""POST /introspect (RFC 7662)."""

from starlette.requests import Request
from starlette.responses import Response

from authserver.endpoints.protocol import introspection_in_memory, run_core


async def introspect(request: Request) -> Response:
    return await run_core(
        request,
        lambda svc: lambda req: svc.server.endpoint_response("introspection", req),
        limit="introspect",
        fast=introspection_in_memory,
    )
