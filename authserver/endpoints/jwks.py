"""GET /jwks.json: the published keys, cacheable for `jwks_max_age` (rotation waits for it)."""

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.services import services


async def jwks(request: Request) -> Response:
    svc = services(request)
    if svc.keyring.stale():
        await run_sync(svc.keyring.refresh_if_stale)
    return Response(
        svc.keyring.jwks(),
        media_type="application/jwk-set+json",
        headers={"cache-control": f"public, max-age={svc.settings.jwks_max_age}"},
    )
