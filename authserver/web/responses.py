"""JSON responses. API responses are never cached unless an endpoint says otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.responses import Response

from authserver.errors import OAuthError

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def json_bytes(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(body: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    merged = dict(NO_STORE)
    for key, value in headers:
        merged[key.lower()] = value
    merged.pop("content-type", None)
    return Response(json_bytes(body), status_code=status, headers=merged, media_type="application/json")


def error_response(exc: OAuthError) -> Response:
    headers = list(exc.headers.items())
    if exc.status_code == 401 and not any(k.lower() == "www-authenticate" for k, _ in headers):
        headers.append(("www-authenticate", f'Bearer error="{exc.error}"'))
    return json_response(exc.body(), exc.status_code, headers)
