"""One place renders every failure: OAuth JSON errors, 404/405, unavailable backends, bugs."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from authserver.errors import OAuthError, StorageUnavailable, TemporarilyUnavailable
from authserver.i18n import N_
from authserver.web.pages import PageError, Pages
from authserver.web.responses import NO_STORE, error_response, json_bytes, json_response

logger = logging.getLogger("authserver.errors")


# Hosted pages answer people, so their failures are pages too.
PAGE_PATHS = frozenset(
    {
        "/authorize",
        "/login",
        "/login/passkey",
        "/consent",
        "/logout",
        "/device",
        "/device/confirm",
        "/mfa",
        "/signup",
        "/email/verify",
        "/email/verify/resend",
        "/password/forgot",
        "/password/reset",
    }
)


def is_page(path: str) -> bool:
    return path in PAGE_PATHS or path == "/account" or path.startswith("/account/")


# A protocol error on a hosted page (a form too large, too many requests, ...): its description is the
# protocol's English; the person reads what happened and what to do in their language, the description
# as a technical detail.
PROTOCOL_PAGE_MESSAGES = {
    429: N_("Too many attempts. Wait a few minutes, then try again."),
    413: N_("The form you sent is too large. Go back, shorten what you typed and try again."),
}
MALFORMED = N_("This page received a request it cannot read. Go back, reload the page and try again.")


def _as_page(
    request: Request, description: str, status: int, headers: dict[str, Any] | None = None, *, detail: str | None = None
) -> Response | None:
    if not is_page(request.url.path) or not hasattr(request.state, "services"):
        return None
    title = {503: N_("Service unavailable"), 429: N_("Too many attempts")}.get(status, N_("Something went wrong"))
    pages: Pages = request.state.services.pages
    page = pages.error(PageError(description, status_code=status, title=title, detail=detail))
    for key, value in (headers or {}).items():
        page.headers[key] = value
    return page


async def oauth_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, OAuthError):  # Starlette routes only OAuthError here
        raise exc
    message = PROTOCOL_PAGE_MESSAGES.get(exc.status_code, MALFORMED)
    detail = f"{exc.error}: {exc.description}" if exc.description else exc.error
    return _as_page(request, message, exc.status_code, exc.headers, detail=detail) or error_response(exc)


async def page_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, PageError):  # Starlette routes only PageError here
        raise exc
    pages: Pages = request.state.services.pages
    return pages.error(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # Starlette routes only HTTPException here
        raise exc
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    headers = dict(exc.headers or {})
    if request.url.path.startswith("/admin/api/"):
        # The admin API answers RFC 9457 problem details, for routing failures too (admin/problems.py).
        problem = {
            "type": "urn:authserver:problem:" + error.replace("_", "-"),
            "title": {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Bad request"),
            "status": exc.status_code,
            "detail": exc.detail,
        }
        return Response(
            json_bytes(problem), exc.status_code, headers={**NO_STORE, **headers}, media_type="application/problem+json"
        )
    return json_response({"error": error, "error_description": exc.detail}, exc.status_code, headers.items())


async def unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("backend unavailable on %s: %s", request.url.path, exc)
    page = _as_page(request, N_("The service is temporarily unavailable. Please try again in a moment."), 503)
    return page or error_response(TemporarilyUnavailable("A backing service is unavailable; try again shortly"))


async def server_error(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for operators; the client sees no internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    page = _as_page(request, N_("An unexpected error occurred. Please try again."), 500)
    return page or json_response({"error": "server_error", "error_description": "Internal error"}, 500)


HANDLERS = {
    PageError: page_error,
    OAuthError: oauth_error,
    HTTPException: http_error,
    StorageUnavailable: unavailable,
    Exception: server_error,
}
