"""One place renders every failure: OAuth JSON errors, 404/405, unavailable backends, bugs."""

from __future__ import annotations

import logging

from authlib.oauth2.rfc6749.errors import OAuth2Error
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from authserver.errors import OAuthError, StorageUnavailable, TemporarilyUnavailable
from authserver.web.responses import error_response, json_response

logger = logging.getLogger("authserver.errors")


async def oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return error_response(exc)


async def authlib_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuth2Error)
    status, body, headers = exc()
    return json_response(body, status, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    headers = dict(exc.headers or {})
    return json_response({"error": error, "error_description": exc.detail}, exc.status_code, headers.items())


async def unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("backend unavailable on %s: %s", request.url.path, exc)
    return error_response(TemporarilyUnavailable("A backing service is unavailable; try again shortly"))


async def server_error(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for operators; the client sees no internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return json_response({"error": "server_error", "error_description": "Internal error"}, 500)


HANDLERS = {
    OAuthError: oauth_error,
    OAuth2Error: authlib_error,
    HTTPException: http_error,
    StorageUnavailable: unavailable,
    Exception: server_error,
}
