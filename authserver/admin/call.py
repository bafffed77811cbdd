"""One wrapper runs every admin API operation: rate limit by source, the access token (RFC 6750 Bearer,
an RFC 9068 token of this issuer obtained by client credentials by an `--admin` client), the scope, the
client's own rate limit, the JSON body, the operation off the event loop, the audit event.

Operations are plain functions of a `Call` returning (status, body, headers); they raise
`manage.errors` or `Problem`, never build responses."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authserver.admin.problems import Problem, from_manage, response
from authserver.concurrency import run_sync
from authserver.domain import ADMIN_READ, ADMIN_WRITE, Client
from authserver.errors import InvalidRequest, OAuthError, PayloadTooLarge
from authserver.manage.errors import ManageError
from authserver.ratelimit import RateLimited
from authserver.services import Services, services
from authserver.web.addresses import source_key
from authserver.web.forms import parse_pairs, read_body
from authserver.web.responses import NO_STORE, json_bytes

PREFIX = "/admin/api/v1"
REALM = 'Bearer realm="authserver-admin"'
JSON_TYPES = ("application/json", "application/merge-patch+json")
BY = "admin-api"


@dataclass
class Call:
    svc: Services
    client: Client  # the acting admin client
    path: dict[str, str]
    query: dict[str, str]
    body: Any
    if_match: str | None
    url: str  # this request's absolute URL without its query (for `next` links)
    ip: str | None
    user_agent: str | None

    def emit(self, event: str, **fields: object) -> None:
        """An audit event of an operation, naming the acting admin client."""
        self.svc.events.emit(event, by=BY, admin_client_id=self.client.client_id, ip=self.ip, **fields)


Result = tuple[int, Any, dict[str, str]]
Operation = Callable[[Call], Result]


def _unauthorized(error: str | None, detail: str) -> Problem:
    # RFC 6750 §3: no error code when the request carried no token at all.
    challenge = REALM + (f', error="{error}"' if error else "")
    return Problem(401, error or "unauthorized", detail, headers={"www-authenticate": challenge})


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized(None, "An admin access token is required (Authorization: Bearer ...)")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthorized("invalid_request", "Send the admin access token as Authorization: Bearer <token>")
    return value.strip()


def authenticate(svc: Services, token: str) -> tuple[Client, list[str]]:
    """Blocking. The acting admin client and the token's scopes, or Problem 401."""
    svc.keyring.refresh_if_stale()
    access = svc.server.issuer.verify_access_token(token)
    if access is None or not svc.server.tokens.access_token_active(access):
        raise _unauthorized("invalid_token", "The access token is invalid, expired or revoked")
    claims = access.claims
    if claims.get("sub") != access.client_id or claims.get("gid"):
        # A user's token (authorization code, device flow) never manages the server, whatever its scope.
        raise _unauthorized("invalid_token", "Admin tokens are obtained by client credentials")
    if isinstance(claims.get("cnf"), dict):
        raise _unauthorized("invalid_token", "DPoP-bound tokens are not accepted by the admin API")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if access.client_id not in audiences and svc.settings.issuer not in audiences:
        raise _unauthorized("invalid_token", "The access token is meant for another resource")
    # Read now, not from the client cache: disabling an admin client takes effect on its next call.
    client = svc.store.get_client(access.client_id)
    if client is None or client.disabled or not client.is_admin:
        raise _unauthorized("invalid_token", "The access token's client may not use the admin API")
    return client, str(claims.get("scope", "")).split()


def check_scope(granted: list[str], scope: str) -> None:
    if scope not in granted:
        raise Problem(
            403,
            "insufficient_scope",
            f"This operation needs the scope {scope}",
            headers={"www-authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
        )


async def _json_body(request: Request, svc: Services) -> Any:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise Problem(415, "unsupported-media-type", "The body must be JSON (Content-Type: application/json)")
    try:
        raw = await read_body(request, svc.settings.max_body_bytes)
    except PayloadTooLarge as exc:
        raise Problem(413, "payload-too-large", exc.description or "The body is too large") from None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "malformed-json", "The body is not valid UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "malformed-json", "The body must be a JSON object")
    return body


def _query(request: Request) -> dict[str, str]:
    try:
        return dict(parse_pairs(request.url.query))
    except InvalidRequest as exc:
        raise Problem(400, "bad-query", exc.description or "Bad query string") from None


def operation(method: str, path: str, scope: str, run: Operation, *, body: bool = False) -> Route:
    """The route of one admin operation (`scope`: admin:read or admin:write)."""
    if scope not in (ADMIN_READ, ADMIN_WRITE):  # the route table is built at start-up: a typo fails it
        raise ValueError(f"unknown admin scope {scope!r}")

    async def endpoint(request: Request) -> Response:
        svc = services(request)
        ip = request.client.host if request.client else None
        started = time.monotonic()  # a duration measured in-process (the access log's ms)
        status = 500
        client: Client | None = None
        try:
            await run_sync(svc.limits.hit, "admin_ip", source_key(ip))
            token = _bearer(request)
            acting, granted = await run_sync(authenticate, svc, token)
            client = acting
            await run_sync(svc.limits.hit, "admin", "client", acting.client_id)
            check_scope(granted, scope)
            payload = await _json_body(request, svc) if body else None
            call = Call(
                svc=svc,
                client=acting,
                path=dict(request.path_params),
                query=_query(request),
                body=payload,
                if_match=request.headers.get("if-match"),
                url=svc.settings.issuer + request.url.path,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
            )
            try:
                status, data, headers = await run_sync(run, call)
            except ManageError as exc:
                raise from_manage(exc) from None
            if status == 204:
                return Response(status_code=204, headers={**NO_STORE, **headers})
            return Response(json_bytes(data), status, headers={**NO_STORE, **headers}, media_type="application/json")
        except RateLimited as exc:
            status = 429
            return response(Problem(429, "rate-limited", exc.description or "Too many requests", headers=exc.headers))
        except OAuthError as exc:
            status = exc.status_code
            return response(Problem(exc.status_code, "bad-request", exc.description or "Bad request"))
        except Problem as problem:
            status = problem.status
            return response(problem)
        finally:
            if client is not None:
                # Every call of an authenticated admin client is in the audit trail, refused ones too.
                fields = {
                    "client_id": client.client_id,
                    "method": method,
                    "route": PREFIX + path,
                    "status": status,
                    "ms": int((time.monotonic() - started) * 1000),
                    "ip": ip,
                    "user_agent": request.headers.get("user-agent"),
                }
                await run_sync(lambda: svc.events.emit("admin_api.called", **fields))

    return Route(PREFIX + path, endpoint, methods=[method])
