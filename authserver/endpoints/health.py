"""GET /healthz (the process answers) and /readyz (its database and cache answer)."""

from starlette.requests import Request
from starlette.responses import Response

from authserver import lifecycle
from authserver.concurrency import run_sync
from authserver.errors import StorageUnavailable
from authserver.services import services
from authserver.web.responses import json_response


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


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
