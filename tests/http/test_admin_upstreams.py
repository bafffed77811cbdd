"""/admin/api/v1/upstreams: list, show and delete upstream identity providers over HTTP."""

from __future__ import annotations

import pytest

from tests.fake_idp import FakeIdP
from tests.helpers import client_token
from tests.upstreams import SECRET, add_upstream

API = "/admin/api/v1"


@pytest.fixture
def idp():  # type: ignore[no-untyped-def]
    provider = FakeIdP().start()
    yield provider
    provider.stop()


def headers(http, register, scope: str = "admin:read admin:write") -> dict[str, str]:  # type: ignore[no-untyped-def]
    admin = register("--admin", name="terraform")
    return {"Authorization": "Bearer " + client_token(http, admin, scope=scope)["access_token"]}


def test_list_show_and_delete(http, cli, register, idp):
    add_upstream(cli, idp)
    auth = headers(http, register)
    listed = http.get(API + "/upstreams", headers=auth)
    assert listed.status_code == 200, listed.text
    assert [u["name"] for u in listed.json()["items"]] == ["corp"]
    shown = http.get(API + "/upstreams/corp", headers=auth)
    assert shown.status_code == 200 and shown.json()["issuer"] == idp.issuer
    assert SECRET not in listed.text + shown.text and 'client_secret"' not in shown.text

    assert http.delete(API + "/upstreams/corp", headers=auth).status_code == 204
    gone = http.get(API + "/upstreams/corp", headers=auth)
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")
    assert cli("upstream", "list", "--json").json() == []
    assert any(e["event"] == "upstream.deleted" for e in cli("audit", "list", "--json").json())


def test_reading_needs_admin_read_and_deleting_admin_write(http, cli, register, idp):
    add_upstream(cli, idp)
    assert http.get(API + "/upstreams").status_code == 401
    read_only = headers(http, register, scope="admin:read")
    assert http.get(API + "/upstreams", headers=read_only).status_code == 200
    assert http.delete(API + "/upstreams/corp", headers=read_only).status_code == 403
    assert [u["name"] for u in cli("upstream", "list", "--json").json()] == ["corp"]
