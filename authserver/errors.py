"""Errors that know their wire format: an RFC 6749 §5.2 JSON error, or a page for a browser."""

from __future__ import annotations


class OAuthError(Exception):
    """An error returned to the client as ``{"error": ..., "error_description": ...}``."""

    status_code = 400
    error = "invalid_request"

    def __init__(
        self,
        description: str | None = None,
        *,
        error: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description or "")
        self.description = description
        if error is not None:
            self.error = error
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequest(OAuthError):
    error = "invalid_request"


class PayloadTooLarge(OAuthError):
    status_code = 413
    error = "invalid_request"


class UnsupportedMediaType(OAuthError):
    # RFC 6749 §3.2 requires application/x-www-form-urlencoded; 400 invalid_request is what clients expect.
    error = "invalid_request"


class MethodNotAllowed(OAuthError):
    status_code = 405
    error = "invalid_request"


class NotFound(OAuthError):
    status_code = 404
    error = "not_found"


class TemporarilyUnavailable(OAuthError):
    """A backing service (database, Redis) cannot be reached; nothing was stored."""

    status_code = 503
    error = "temporarily_unavailable"


class StorageUnavailable(Exception):
    """Raised by a store or cache when its backend cannot be reached."""
