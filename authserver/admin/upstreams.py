"""/admin/api/v1/upstreams: the upstream identity providers of `authserver upstream list|show|delete`.

Adding one stays with the CLI (`authserver upstream add`): it reads the client secret from stdin and the
provider's discovery document at once."""

from __future__ import annotations

from starlette.routing import Route

from authserver.admin.call import Call, Result, operation
from authserver.admin.problems import Problem
from authserver.domain import ADMIN_READ, ADMIN_WRITE, Upstream
from authserver.upstream import registry


def _get(call: Call) -> Upstream:
    upstream = call.svc.store.get_upstream(call.path["name"][:40])
    if upstream is None:
        raise Problem(404, "not-found", f"no upstream named {call.path['name'][:40]!r}")
    return upstream


def _describe(call: Call, upstream: Upstream) -> dict[str, object]:
    return registry.describe(upstream, registry.redirect_uri(call.svc.settings.issuer, upstream.name))


def list_upstreams(call: Call) -> Result:
    return 200, {"items": [_describe(call, u) for u in call.svc.store.list_upstreams()], "next": None}, {}


def show_upstream(call: Call) -> Result:
    return 200, _describe(call, _get(call)), {}


def delete_upstream(call: Call) -> Result:
    upstream = _get(call)
    call.svc.store.delete_upstream(upstream.name)
    call.emit("upstream.deleted", upstream=upstream.name)
    return 204, None, {}


ROUTES: list[Route] = [
    operation("GET", "/upstreams", ADMIN_READ, list_upstreams),
    operation("GET", "/upstreams/{name}", ADMIN_READ, show_upstream),
    operation("DELETE", "/upstreams/{name}", ADMIN_WRITE, delete_upstream),
]
