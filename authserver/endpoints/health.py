"""GET /healthz (the process answers) and /readyz (its database and cache answer)."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from authserver import lifecycle
from authserver.concurrency import run_sync
from authserver.errors import StorageUnavailable
from authserver.services import services
from authserver.web.responses import json_bytes, json_response, send_bytes

_OK = json_bytes({"status": "ok"})
_OK_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_OK)).encode()),
]


class Healthz:
    """The process answers: fixed bytes from an ASGI endpoint (no Request or Response objects)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, _OK_HEADERS, _OK)


healthz = Healthz()


async def readyz(request: Request) -> Response:
    svc = services(request)
    if lifecycle.draining.is_set():
        return json_response({"status": "draining", "checks": {}}, 503)
    checks = {}
    for name, ping in (("database", svc.store.ping), ("cache", svc.cache.ping)):
        try:
            await run_sync(ping)
            checks[name] = "ok"
        except StorageUnavailable:
            checks[name] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503)
