"""Errors that know their wire format: an RFC 6749 §5.2 JSON error, or a page for a browser.

The one error hierarchy. What reaches the HTTP edge is rendered in one place (web/errors.py: JSON for
protocol endpoints and APIs, an error page for the hosted pages, never a traceback):

    OAuthError                      status + error + error_description (this module)
      InvalidRequest, UnsupportedMediaType   400 invalid_request
      PayloadTooLarge                        413
      MethodNotAllowed, NotFound             405, 404
      TemporarilyUnavailable                 503 temporarily_unavailable
      web.pages.PageError                    the same, shown to a person as a page (title, message)
      ratelimit.RateLimited                  429 with Retry-After
    StorageUnavailable              a backend (database, Redis) is down: 503 JSON or page (web/errors.py)
    anything else                   a bug: logged with its traceback, 500 server_error JSON or page

Inside the layers, errors are plain exceptions of the module that detects them, and their caller turns
them into one of the above (or into a CLI message); none of them reaches the edge:
- oauth/: authorize_request.AuthorizeFatal (before the redirect URI is trusted: a page) and AuthorizeError
  (sent back to the client's redirect URI); RequestObjectError (jar), RequestUriError (par), DPoPError,
  ClaimsRequestError, RedirectUriError, InvalidKeySet; authlib's OAuth2Error subclasses in grants/, which
  authlib renders as RFC 6749 JSON.
- security/: PasswordPolicyError, PasskeyError, DecryptionError, EgressRefused, Unresolvable.
- store: DuplicateError (a unique value already taken). delivery: DeliveryError (retried by the outbox).
- settings.InvalidSettings, settings.MissingSecret, app.ConfigurationError: refused at start-up;
  cli.output.CommandError: a message and exit status 1.
"""

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
