"""The admin API's routes (and dynamic client registration's), for app.py."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from authserver.admin import clients, keys, openapi, registration, upstreams, users
from authserver.admin.call import PREFIX


def routes() -> list[BaseRoute]:
    return [
        Route(PREFIX + "/openapi.json", openapi.openapi, methods=["GET"]),
        *clients.ROUTES,
        *users.ROUTES,
        *keys.ROUTES,
        *upstreams.ROUTES,
        *registration.ROUTES,
    ]
