"""RFC 9457 problem details: every admin API failure is one JSON object of type application/problem+json
with `type`, `title`, `status`, `detail`, and `field` when one field of the request is at fault."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver.manage.errors import Conflict, Invalid, ManageError, NotFound, Stale
from authserver.web.responses import NO_STORE, json_bytes

MEDIA_TYPE = "application/problem+json"
# Problem types are URNs of this server (RFC 9457 §3.1.1: a URI that identifies the problem type).
TYPE_PREFIX = "urn:authserver:problem:"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid field",
    429: "Too many requests",
    503: "Service unavailable",
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.kind,
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
        return body


def from_manage(exc: ManageError) -> Problem:
    detail = exc.render()
    if isinstance(exc, Invalid):
        return Problem(422, "invalid-field", detail, field=exc.field)
    if isinstance(exc, NotFound):
        return Problem(404, "not-found", detail)
    if isinstance(exc, Stale):
        return Problem(412, "lost-update", detail + "; read it again (GET) and retry with its ETag")
    if isinstance(exc, Conflict):
        return Problem(409, "conflict", detail, field=exc.field)
    return Problem(400, "bad-request", detail, field=exc.field)


def response(problem: Problem) -> Response:
    headers = {**NO_STORE, **problem.headers}
    return Response(json_bytes(problem.body()), status_code=problem.status, headers=headers, media_type=MEDIA_TYPE)


async def handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, Problem):  # Starlette routes only Problem here
        raise exc
    return response(exc)


HANDLERS = {Problem: handler}
