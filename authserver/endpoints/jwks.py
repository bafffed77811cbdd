"""GET /jwks.json: the published keys, cacheable for `jwks_max_age` (rotation waits for it)."""

from starlette.types import Receive, Scope, Send

from authserver.concurrency import run_sync
from authserver.services import Services
from authserver.web.responses import Published

MEDIA_TYPE = "application/jwk-set+json"


class Jwks:
    """An ASGI endpoint (no Request or Response objects per request): the key ring's JWKS bytes as a
    Published document, rebuilt only when the key set changed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        svc: Services = scope["state"]["services"]
        if svc.keyring.stale():
            await run_sync(svc.keyring.refresh_if_stale)
        body = svc.keyring.jwks()
        state = scope["app"].state
        published: Published | None = getattr(state, "jwks", None)
        if published is None or published.body is not body:  # the key set changed (same bytes object until then)
            published = state.jwks = Published(body, MEDIA_TYPE, svc.settings.jwks_max_age)
        await published.send(scope, send)


jwks = Jwks()
