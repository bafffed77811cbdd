"""POST /register (RFC 7591 dynamic client registration) and GET/PUT/DELETE /register/{client_id}
(RFC 7592 management with the registration access token). Errors are RFC 7591 §3.2.2 JSON:
invalid_redirect_uri, invalid_client_metadata; a missing or bad token is an RFC 6750 401."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authserver.concurrency import run_sync
from authserver.domain import Client
from authserver.errors import OAuthError, PayloadTooLarge
from authserver.manage import clients, registration
from authserver.manage.errors import Invalid, ManageError
from authserver.services import Services, services
from authserver.web.addresses import source_key
from authserver.web.forms import read_body
from authserver.web.responses import json_response

PATH = "/register"
REDIRECT_FIELDS = ("redirect_uris", "post_logout_redirect_uris")


def _unauthorized(error: str | None, description: str) -> OAuthError:
    challenge = 'Bearer realm="authserver-registration"' + (f', error="{error}"' if error else "")
    return OAuthError(
        description, error=error or "invalid_token", status_code=401, headers={"www-authenticate": challenge}
    )


def _bearer(request: Request, *, required: bool) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        if required:
            raise _unauthorized(None, "A bearer token is required")
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthorized("invalid_request", "Send the token as Authorization: Bearer <token>")
    return value.strip()


async def _metadata(request: Request, svc: Services) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise OAuthError("The body must be JSON (Content-Type: application/json)", error="invalid_client_metadata")
    try:
        raw = await read_body(request, svc.settings.max_body_bytes)
    except PayloadTooLarge:
        raise OAuthError("The body is too large", error="invalid_client_metadata", status_code=413) from None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("The body is not valid UTF-8 JSON", error="invalid_client_metadata") from None
    if not isinstance(body, dict):
        raise OAuthError("The body must be a JSON object", error="invalid_client_metadata")
    return body


def _refused(exc: ManageError) -> OAuthError:
    """RFC 7591 §3.2.2: a bad redirect URI has its own error code; every other refusal is metadata."""
    description = exc.render(registration.RFC_NAMES)
    error = (
        "invalid_redirect_uri"
        if isinstance(exc, Invalid) and exc.field in REDIRECT_FIELDS
        else "invalid_client_metadata"
    )
    return OAuthError(description, error=error)


def _response(client: Client, svc: Services, token: str, secret: str | None = None, status: int = 200) -> Response:
    body = registration.registered_metadata(client)
    if secret is not None:
        body["client_secret"] = secret
    body["registration_access_token"] = token
    body["registration_client_uri"] = f"{svc.settings.issuer}{PATH}/{client.client_id}"
    return json_response(body, status)


async def register(request: Request) -> Response:
    svc = services(request)
    ip = request.client.host if request.client else None
    await run_sync(svc.limits.hit, "admin_ip", source_key(ip))
    token = _bearer(request, required=svc.settings.dynamic_registration == "token")
    metadata = await _metadata(request, svc)

    def work() -> tuple[Client, str | None, str]:
        # In "token" mode _bearer required the token; without one it is refused like a wrong one.
        if svc.settings.dynamic_registration == "token" and (
            token is None or not svc.store.use_registration_token(registration.token_hash(token), int(svc.clock()))
        ):
            raise _unauthorized("invalid_token", "The initial access token is invalid, expired or used up")
        try:
            return registration.register(svc.store, svc.hasher, metadata, now=int(svc.clock()))
        except ManageError as exc:
            raise _refused(exc) from None

    client, secret, registration_token = await run_sync(work)
    await run_sync(
        lambda: svc.events.emit(
            "client.registered",
            client_id=client.client_id,
            by="dynamic-registration",
            mode=svc.settings.dynamic_registration,
            ip=ip,
            user_agent=request.headers.get("user-agent"),
        )
    )
    return _response(client, svc, registration_token, secret, 201)


async def _managed(request: Request, svc: Services) -> Client:
    await run_sync(svc.limits.hit, "admin_ip", source_key(request.client.host if request.client else None))
    token = _bearer(request, required=True)  # refuses a request without one
    client = (
        await run_sync(registration.registered_client, svc.store, request.path_params["client_id"], token)
        if token
        else None
    )
    if client is None:
        # RFC 7592 §2.1: an invalid token or an unknown client is the same 401 (no client enumeration).
        raise _unauthorized("invalid_token", "The registration access token is invalid")
    return client


async def read(request: Request) -> Response:
    svc = services(request)
    client = await _managed(request, svc)
    body = registration.registered_metadata(client)
    body["registration_client_uri"] = f"{svc.settings.issuer}{PATH}/{client.client_id}"
    return json_response(body)


async def update(request: Request) -> Response:
    svc = services(request)
    client = await _managed(request, svc)
    metadata = await _metadata(request, svc)

    def work() -> tuple[Client, str]:
        try:
            return registration.update_registration(svc.store, client, metadata)
        except ManageError as exc:
            raise _refused(exc) from None

    updated, token = await run_sync(work)
    await run_sync(lambda: svc.events.emit("client.updated", client_id=client.client_id, by="dynamic-registration"))
    return _response(updated, svc, token)


async def delete(request: Request) -> Response:
    svc = services(request)
    client = await _managed(request, svc)

    def work() -> None:
        clients.delete(svc.store, client.client_id)
        svc.events.emit("client.deleted", client_id=client.client_id, by="dynamic-registration")

    await run_sync(work)
    return Response(status_code=204, headers={"cache-control": "no-store"})


ROUTES: list[Route] = [
    Route(PATH, register, methods=["POST"]),
    Route(PATH + "/{client_id}", read, methods=["GET"]),
    Route(PATH + "/{client_id}", update, methods=["PUT"]),
    Route(PATH + "/{client_id}", delete, methods=["DELETE"]),
]
