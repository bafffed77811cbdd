"""Starlette's router with a dictionary in front of its list.

Starlette tries each route's regular expression in turn, so a request for a route near the end of
the list (GET /healthz is the 48th) paid for some fifty failed matches, most of the CPU of a trivial
request. Almost every route here is a fixed path: one dictionary lookup finds it. What the lookup
cannot answer (a path with parameters, a mount, a method the route does not take: 405) goes through
Starlette's own scan, so the answers are the same as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(list(routes), **kwargs)
        self.exact: dict[str, Route] = {}
        for index, route in enumerate(self.routes):
            if not isinstance(route, Route) or route.param_convertors or route.path in self.exact:
                continue
            # The scan takes the first route that matches: a fixed path shadowed by an earlier pattern
            # or mount stays with the scan.
            probe: Scope = {"type": "http", "path": route.path, "root_path": "", "method": "GET"}
            if all(earlier.matches(probe)[0] is Match.NONE for earlier in self.routes[:index]):
                self.exact[route.path] = route

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):  # (mounted under a prefix: the scan)
            route = self.exact.get(scope["path"])
            if route is not None and (route.methods is None or scope["method"] in route.methods):
                scope.setdefault("router", self)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = dict(scope.get("path_params", {}))
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)
