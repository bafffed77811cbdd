"""JSON responses. API responses are never cached unless an endpoint says otherwise."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from starlette.responses import Response
from starlette.types import Scope, Send

from authserver.errors import OAuthError

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def json_bytes(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


_NO_STORE_RAW = [(key.encode(), value.encode()) for key, value in NO_STORE.items()]
_JSON = (b"content-type", b"application/json")


class _RawResponse(Response):
    """A Response whose header list is given ready-made (Response.__init__ rebuilds it from a dict)."""

    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def json_response(body: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    content = json_bytes(body)
    raw = _NO_STORE_RAW
    extra = [(key.lower(), value) for key, value in headers]
    if extra:  # the caller's headers replace ours of the same name; the content type is always JSON
        names = {key for key, _ in extra}
        raw = [h for h in _NO_STORE_RAW if h[0].decode() not in names]
        raw += [(key.encode("latin-1"), value.encode("latin-1")) for key, value in extra if key != "content-type"]
    return _RawResponse(content, status, [*raw, (b"content-length", str(len(content)).encode()), _JSON])


def error_response(exc: OAuthError) -> Response:
    headers = list(exc.headers.items())
    if exc.status_code == 401 and not any(k.lower() == "www-authenticate" for k, _ in headers):
        headers.append(("www-authenticate", f'Bearer error="{exc.error}"'))
    return json_response(exc.body(), exc.status_code, headers)


def request_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (`name` in lower case, as ASGI servers give names)."""
    key: bytes
    value: bytes
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def send_bytes(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """A complete response from ready-made parts: no Response object, for the endpoints whose answer is
    known in advance (the middleware still adds the security headers and the request id)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Published:
    """A public document served as fixed bytes (JWKS, discovery): serialized once, with an ETag and its
    response headers, so a request costs two messages and, for a client that already has it, a bodyless
    304."""

    __slots__ = ("body", "etag", "headers", "not_modified_headers")

    def __init__(self, body: bytes, media_type: str, max_age: int) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        cache = [(b"cache-control", f"public, max-age={max_age}".encode()), (b"etag", self.etag.encode())]
        self.headers = [
            *cache,
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        # RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would have.
        self.not_modified_headers = cache

    async def send(self, scope: Scope, send: Send) -> None:
        if_none_match = request_header(scope, b"if-none-match")
        if if_none_match is not None and _matches(if_none_match.decode("latin-1"), self.etag):
            await send_bytes(send, 304, self.not_modified_headers, b"")
        else:
            await send_bytes(send, 200, self.headers, self.body)


def _matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 §13.1.2: "*" or a list of entity tags, compared weakly (a W/ prefix is ignored).
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
