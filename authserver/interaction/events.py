"""Audit events from request handlers: who (IP, user agent) added once, written off the event loop."""

from __future__ import annotations

from starlette.requests import Request

from authserver.concurrency import run_sync
from authserver.services import Services


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def who(request: Request) -> dict[str, str | None]:
    return {"ip": client_ip(request), "user_agent": request.headers.get("user-agent", "")[:300] or None}


async def emit(svc: Services, request: Request, name: str, **fields: object) -> None:
    await run_sync(lambda: svc.events.emit(name, **who(request), **fields))
