"""JSON responses. API responses are never cached unless an endpoint says otherwise."""

from __future__ import annotations

import hashlib
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


class Published:
    """A public document served as fixed bytes (JWKS, discovery): serialized once, with an ETag, so a
    request costs a dictionary of headers and, for a client that already has it, a bodyless 304."""

    __slots__ = ("body", "etag", "headers")

    def __init__(self, body: bytes, media_type: str, max_age: int) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.headers = {"cache-control": f"public, max-age={max_age}", "etag": self.etag, "content-type": media_type}

    def response(self, if_none_match: str | None) -> Response:
        if if_none_match is not None and _matches(if_none_match, self.etag):
            # RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would have.
            return Response(status_code=304, headers={k: v for k, v in self.headers.items() if k != "content-type"})
        return Response(self.body, headers=self.headers)


def _matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 §13.1.2: "*" or a list of entity tags, compared weakly (a W/ prefix is ignored).
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
