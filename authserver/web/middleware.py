"""Pure-ASGI middleware (no per-request task hops): security headers, request ids, body cap."""

from __future__ import annotations

import random
import re
import time
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authserver import i18n, logs
from authserver.web.responses import json_bytes

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

API_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]
# Pages (HTML) also keep other origins' windows and no-cors loads away: no opener handle to a sign-in
# window from a page that opened it (tab-nabbing, XS-Leaks through window references), and no embedding
# of our pages' bytes by another site.
PAGE_HEADERS = [
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
# RFC 6797: browsers that once reached the https issuer refuse plain http to it for a year. Sent on
# every response (browsers ignore it over http, §8.1); no includeSubDomains: the issuer's host says
# nothing about its sibling hosts.
HSTS = (b"strict-transport-security", b"max-age=31536000")


class RequestObserver(Protocol):
    """Told of every request the application answered (metrics and the access log implement it)."""

    def observe(self, path: str, method: str, status: int, elapsed: float) -> None: ...


class EdgeMiddleware:
    """Adds security headers and X-Request-ID to every response; refuses oversized bodies early; tells
    the observer each request's status and duration (one layer rather than two: a layer costs a call,
    a closure and a send wrapper per request)."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, https: bool, observer: RequestObserver | None = None
    ) -> None:
        self.app = app
        self.observer = observer
        self.max_body_bytes = max_body_bytes
        self.always = [*API_HEADERS, HSTS] if https else API_HEADERS
        self.always_names = frozenset(name for name, _ in self.always)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        declared = None
        accept_language = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                request_id = candidate if _REQUEST_ID.fullmatch(candidate) else None
            elif name == b"content-length":
                declared = value
            elif name == b"accept-language":
                accept_language = value
        # A correlation id, not a secret: unique enough from the process's Mersenne Twister (seeded from
        # os.urandom in each worker), without a system call per request.
        request_id = request_id or f"{random.getrandbits(64):016x}"
        scope.setdefault("state", {})["request_id"] = request_id
        # Every log line of this request (threads included: anyio copies the context) carries it.
        logs.start_request(request_id)
        # What a page's language is chosen from, should this request render one (i18n.Catalogs.language).
        i18n.start_request(accept_language, scope.get("query_string", b""))
        rid = (b"x-request-id", request_id.encode())
        always, always_names = self.always, self.always_names
        status = 500  # what the observer is told if the application fails before it answers

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # One pass over the response's headers: which of ours it set itself, whether it is a page.
                given = message.get("headers", ())
                present = set()
                page = False
                for name, value in given:
                    name = name.lower()
                    present.add(name)
                    if name == b"content-type" and value.startswith(b"text/html"):
                        page = True
                headers = [*given, *(always if always_names.isdisjoint(present) else _missing(always, present))]
                if page:
                    headers.extend(_missing(PAGE_HEADERS, present))
                headers.append(rid)
                message["headers"] = headers
            await send(message)

        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self.max_body_bytes:
            body = json_bytes({"error": "invalid_request", "error_description": "Request body is too large"})
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        observer = self.observer
        if observer is None:
            await self.app(scope, receive, send_with_headers)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            observer.observe(scope["path"], scope["method"], status, time.perf_counter() - start)


def _missing(headers: list[tuple[bytes, bytes]], present: set[bytes]) -> list[tuple[bytes, bytes]]:
    return [header for header in headers if header[0] not in present]
