"""GET /metrics: Prometheus text format (bearer-protected when AUTHSERVER_METRICS_TOKEN is set)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from authserver.services import services
from authserver.web.responses import json_response


async def metrics(request: Request) -> Response:
    svc = services(request)
    expected = svc.settings.metrics_token
    if expected is not None:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {expected.get_secret_value()}".encode()):
            return json_response({"error": "invalid_token"}, 401, [("www-authenticate", 'Bearer realm="metrics"')])
    body, content_type = svc.metrics.exposition()
    return Response(body, media_type=content_type, headers={"cache-control": "no-store"})
