"""GET /jwks.json: the published keys, cacheable for `jwks_max_age` (rotation waits for it)."""

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.services import services
from authserver.web.responses import Published

MEDIA_TYPE = "application/jwk-set+json"


async def jwks(request: Request) -> Response:
    svc = services(request)
    if svc.keyring.stale():
        await run_sync(svc.keyring.refresh_if_stale)
    body = svc.keyring.jwks()
    published: Published | None = getattr(request.app.state, "jwks", None)
    if published is None or published.body is not body:  # the key set changed (same bytes object until then)
        published = request.app.state.jwks = Published(body, MEDIA_TYPE, svc.settings.jwks_max_age)
    return published.response(request.headers.get("if-none-match"))
