"""/admin/api/v1/clients: the operations of `authserver client`, over HTTP."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from authserver.admin import paging
from authserver.admin.call import Call, Result, operation
from authserver.admin.problems import Problem
from authserver.domain import ADMIN_READ, ADMIN_WRITE, Client
from authserver.manage import clients
from authserver.manage.errors import Invalid


def etag(client: Client) -> str:
    return f'"c{client.version}"'


def expected_version(call: Call, kind: str) -> int | None:
    """The version If-Match names (None without the header); 412 for one that is not this resource's."""
    if call.if_match is None:
        return None
    value = call.if_match.strip()
    if value == "*":
        return None
    prefix = f'"{kind}'
    if not (value.startswith(prefix) and value.endswith('"') and value[len(prefix) : -1].isdigit()):
        raise Problem(412, "lost-update", "If-Match does not match the current ETag; read it again (GET) and retry")
    return int(value[len(prefix) : -1])


def _shown(client: Client, secret: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    data = clients.describe(client)
    if secret is not None:
        data["client_secret"] = secret  # shown once: at creation or rotation
    return data, {"etag": etag(client)}


def list_clients(call: Call) -> Result:
    size = paging.limit(call)
    after = paging.cursor(call)
    if after is not None and call.svc.store.get_client(after) is None:
        raise paging.bad_cursor()
    rows = call.svc.store.list_clients(limit=size + 1, after=after)
    shown = rows[:size]
    return paging.page(call, rows, [clients.describe(c) for c in shown], size, shown[-1].client_id if shown else None)


def create_client(call: Call) -> Result:
    if call.body.get("admin") is not None and call.body.get("admin") is not False:
        # The admin scopes are given only by someone with database access (`client create --admin`): an
        # admin token must not be able to mint more admin clients, nor outlive its own client that way.
        raise Invalid("{admin} clients are created only with `authserver client create --admin`", field="admin")
    spec = clients.spec_from_json(call.body)
    client, secret = clients.create(
        call.svc.store, call.svc.hasher, spec, now=int(call.svc.clock()), registered_by="admin-api"
    )
    call.emit("client.created", client_id=client.client_id)
    data, headers = _shown(client, secret)
    headers["location"] = f"{call.url}/{client.client_id}"
    return 201, data, headers


def show_client(call: Call) -> Result:
    data, headers = _shown(clients.get(call.svc.store, call.path["client_id"]))
    return 200, data, headers


def update_client(call: Call) -> Result:
    version = expected_version(call, "c")
    client = clients.update(call.svc.store, call.path["client_id"], call.body, expected_version=version)
    call.emit("client.updated", client_id=client.client_id, fields=sorted(call.body))
    data, headers = _shown(client)
    return 200, data, headers


def delete_client(call: Call) -> Result:
    clients.delete(call.svc.store, call.path["client_id"])
    call.emit("client.deleted", client_id=call.path["client_id"])
    return 204, None, {}


def _disabled(call: Call, disabled: bool) -> Result:
    client = clients.set_disabled(call.svc.store, call.path["client_id"], disabled)
    call.emit("client.disabled" if disabled else "client.enabled", client_id=client.client_id)
    data, headers = _shown(client)
    return 200, data, headers


def disable_client(call: Call) -> Result:
    return _disabled(call, True)


def enable_client(call: Call) -> Result:
    return _disabled(call, False)


def rotate_secret(call: Call) -> Result:
    client, secret = clients.rotate_secret(call.svc.store, call.svc.hasher, call.path["client_id"])
    call.emit("client.secret_rotated", client_id=client.client_id)
    data, headers = _shown(client, secret)
    return 200, data, headers


ROUTES: list[Route] = [
    operation("GET", "/clients", ADMIN_READ, list_clients),
    operation("POST", "/clients", ADMIN_WRITE, create_client, body=True),
    operation("GET", "/clients/{client_id}", ADMIN_READ, show_client),
    operation("PATCH", "/clients/{client_id}", ADMIN_WRITE, update_client, body=True),
    operation("DELETE", "/clients/{client_id}", ADMIN_WRITE, delete_client),
    operation("POST", "/clients/{client_id}/disable", ADMIN_WRITE, disable_client),
    operation("POST", "/clients/{client_id}/enable", ADMIN_WRITE, enable_client),
    operation("POST", "/clients/{client_id}/secret", ADMIN_WRITE, rotate_secret),
]
