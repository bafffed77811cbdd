"""Routing (web/routing.py): fixed paths are found by a dictionary lookup, everything else by Starlette's
scan. Either way a path answers with its route, a method the route does not take answers 405 with
Allow, and unknown paths, mounts, path parameters and trailing slashes behave as with Starlette alone."""

from __future__ import annotations

import pytest
from starlette.routing import Route, Router

from authserver import app as app_module

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")


@pytest.fixture
def http(make_app):  # type: ignore[no-untyped-def]
    return make_app(dynamic_registration="open")


def test_every_fixed_path_answers_as_with_starlettes_own_router(http, make_app, monkeypatch):
    monkeypatch.setattr(app_module, "IndexedRouter", Router)
    scanning = make_app(dynamic_registration="open")
    assert type(scanning.app.router) is Router and type(http.app.router) is not Router
    allowed: dict[str, set[str]] = {}  # a path can have one route per method (the admin API)
    for route in http.app.routes:
        if isinstance(route, Route) and "{" not in route.path:
            allowed.setdefault(route.path, set()).update(route.methods or ())
    assert len(allowed) > 40
    for path, methods in allowed.items():
        for method in METHODS:
            response = http.request(method, path, follow_redirects=False)
            expected = scanning.request(method, path, follow_redirects=False)
            assert response.status_code == expected.status_code, (method, path)
            if method not in methods:
                assert response.status_code == 405, (method, path)


def test_what_the_lookup_does_not_hold_is_still_routed(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.head("/healthz").status_code == 200
    assert http.get("/no-such-path").status_code == 404
    # A trailing slash too many redirects to the route (Starlette's redirect_slashes).
    moved = http.get("/healthz/", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"].endswith("/healthz")
    # A mount and a path with a parameter.
    assert http.get("/static/app.css").status_code == 200
    assert http.get("/static/no-such-file.css").status_code == 404
    assert http.get("/login/upstream/nobody/callback").status_code not in (404, 405)
