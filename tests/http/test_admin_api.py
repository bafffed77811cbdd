"""The admin REST API (/admin/api/v1) through HTTP: authorization, every resource and verb, pagination,
ETag/If-Match, problem details naming the field, secrets shown once, the audit trail, the OpenAPI
document against the real routes."""

from __future__ import annotations

import pytest
from starlette.routing import Route

from tests.helpers import PASSWORD, basic, client_token

API = "/admin/api/v1"
PROBLEM = "application/problem+json"


@pytest.fixture
def admin(register) -> dict:  # type: ignore[no-untyped-def]
    return register("--admin", name="terraform")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def as_admin(http, admin):  # type: ignore[no-untyped-def]
    """Headers with an admin:read admin:write token."""
    return bearer(client_token(http, admin)["access_token"])


@pytest.fixture
def read_only(http, admin):  # type: ignore[no-untyped-def]
    return bearer(client_token(http, admin, scope="admin:read")["access_token"])


def assert_problem(response, status: int, *, field: str | None = None, contains: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["type"].startswith("urn:authserver:problem:")
    assert body["title"] and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
        assert field in body["detail"], body
    if contains is not None:
        assert contains in body["detail"], body
    assert "Traceback" not in response.text
    return body


# --- authorization ----------------------------------------------------------------------------


def test_no_token_is_401_with_a_bare_challenge(http):
    response = http.get(API + "/clients")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="authserver-admin"'


@pytest.mark.parametrize(
    "header", ["Basic abc", "Bearer ", "Bearer not-a-token", "Bearer a.b.c", "DPoP x.y.z", "bearer"]
)
def test_bad_tokens_are_401(http, header):
    response = http.get(API + "/clients", headers={"Authorization": header})
    assert_problem(response, 401)
    assert "error=" in response.headers["www-authenticate"]


def test_a_token_of_a_client_without_admin_is_401(http, register):
    other = register()
    token = client_token(http, other)["access_token"]
    assert_problem(http.get(API + "/clients", headers=bearer(token)), 401, contains="admin API")


def test_other_clients_asking_for_an_admin_scope_get_invalid_scope(http, register):
    other = register("--scope", "api")
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "admin:read admin:write"},
        headers=basic(other["client_id"], other["client_secret"]),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_read_scope_reads_but_does_not_write(http, read_only):
    assert http.get(API + "/clients", headers=read_only).status_code == 200
    response = http.post(API + "/clients", json={"name": "x"}, headers=read_only)
    body = assert_problem(response, 403, contains="admin:write")
    assert body["type"].endswith("insufficient_scope")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert_problem(http.delete(API + "/users/nobody", headers=read_only), 403)


def test_write_scope_alone_does_not_read(http, admin):
    token = client_token(http, admin, scope="admin:write")["access_token"]
    assert_problem(http.get(API + "/clients", headers=bearer(token)), 403, contains="admin:read")


def test_a_disabled_admin_client_is_refused_at_once_and_again_when_enabled(http, cli, admin, as_admin):
    assert http.get(API + "/clients", headers=as_admin).status_code == 200
    assert cli("client", "disable", admin["client_id"]).code == 0
    assert_problem(http.get(API + "/clients", headers=as_admin), 401)
    assert cli("client", "enable", admin["client_id"]).code == 0
    assert http.get(API + "/clients", headers=as_admin).status_code == 200


def test_a_revoked_admin_token_is_refused(http, admin):
    token = client_token(http, admin)["access_token"]
    revoked = http.post("/revoke", data={"token": token}, headers=basic(admin["client_id"], admin["client_secret"]))
    assert revoked.status_code == 200
    assert_problem(http.get(API + "/clients", headers=bearer(token)), 401)


def test_every_call_is_audited_with_the_acting_client(http, admin, as_admin, read_only):
    http.get(API + "/clients", headers=as_admin)
    http.post(API + "/clients", json={"name": "x"}, headers=read_only)  # refused: audited too
    events = http.get(API + "/audit-events", params={"event": "admin_api.called"}, headers=as_admin).json()["items"]
    calls = [(e["client_id"], e["data"]["method"], e["data"]["route"], e["data"]["status"]) for e in events]
    assert (admin["client_id"], "GET", API + "/clients", 200) in calls
    assert (admin["client_id"], "POST", API + "/clients", 403) in calls


def test_the_api_is_rate_limited_per_admin_client(make_app, admin):
    http = make_app(rate_limit_admin="3/minute")
    headers = bearer(client_token(http, admin)["access_token"])
    statuses = [http.get(API + "/keys", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = http.get(API + "/keys", headers=headers)
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1


def test_unknown_paths_and_methods_are_problems(http, as_admin):
    assert_problem(http.get(API + "/nothing", headers=as_admin), 404)
    assert_problem(http.put(API + "/clients", headers=as_admin), 405)


# --- clients ----------------------------------------------------------------------------------


def test_client_lifecycle(http, as_admin, cli):
    created = http.post(
        API + "/clients",
        json={
            "name": "billing",
            "redirect_uris": ["https://billing.example/cb"],
            "logo_uri": "https://billing.example/l.png",
        },
        headers=as_admin,
    )
    assert created.status_code == 201, created.text
    client = created.json()
    assert client["client_secret"] and client["registered_by"] == "admin-api"
    assert client["grant_types"] == ["authorization_code"] and client["logo_uri"] == "https://billing.example/l.png"
    assert created.headers["location"].endswith(API + "/clients/" + client["client_id"])
    etag = created.headers["etag"]
    # The CLI sees the same client, the same way.
    shown_cli = cli("client", "show", client["client_id"], "--json").json()
    assert shown_cli == {k: v for k, v in client.items() if k != "client_secret"}
    shown = http.get(API + "/clients/" + client["client_id"], headers=as_admin)
    assert shown.status_code == 200 and "client_secret" not in shown.json()
    assert shown.headers["etag"] == etag
    patched = http.patch(
        API + "/clients/" + client["client_id"],
        json={"name": "billing v2", "require_mfa": True},
        headers={**as_admin, "If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "billing v2" and patched.json()["require_mfa"] is True
    assert patched.headers["etag"] != etag
    disabled = http.post(API + f"/clients/{client['client_id']}/disable", headers=as_admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert http.post(API + f"/clients/{client['client_id']}/enable", headers=as_admin).json()["disabled"] is False
    rotated = http.post(API + f"/clients/{client['client_id']}/secret", headers=as_admin)
    assert rotated.status_code == 200
    assert rotated.json()["client_secret"] not in (None, client["client_secret"])
    assert http.delete(API + "/clients/" + client["client_id"], headers=as_admin).status_code == 204
    assert_problem(http.get(API + "/clients/" + client["client_id"], headers=as_admin), 404)
    assert_problem(http.delete(API + "/clients/" + client["client_id"], headers=as_admin), 404)
    events = {e["event"] for e in cli("audit", "list", "--json").json() if e["client_id"] == client["client_id"]}
    assert {"client.created", "client.updated", "client.disabled", "client.secret_rotated", "client.deleted"} <= events


def test_a_rotated_secret_works_and_the_old_one_does_not(http, as_admin, register):
    client = register()
    new = http.post(API + f"/clients/{client['client_id']}/secret", headers=as_admin).json()["client_secret"]
    client_token(http, {**client, "client_secret": new})
    old = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert old.status_code == 401


@pytest.mark.parametrize(
    ("body", "field", "contains"),
    [
        ({}, "name", "required"),
        ({"name": ""}, "name", "1 to 200"),
        ({"name": 5}, "name", "string"),
        ({"name": "x", "redirect_uris": "https://a.example/cb"}, "redirect_uris", "array"),
        ({"name": "x", "redirect_uris": ["https://a.example/cb#f"]}, "redirect_uris", "fragment"),
        ({"name": "x", "redirect_uris": ["http://a.example/cb"]}, "redirect_uris", "redirect_uris"),
        ({"name": "x", "grant_types": ["password"]}, "grant_types", "grant_types"),
        ({"name": "x", "grant_types": ["authorization_code"]}, "redirect_uris", "authorization_code needs"),
        ({"name": "x", "scope": "admin:read"}, "scope", "admin"),
        ({"name": "x", "admin": "yes"}, "admin", "authserver client create --admin"),
        ({"name": "x", "admin": True}, "admin", "authserver client create --admin"),
        ({"name": "x", "token_endpoint_auth_method": "private_key_jwt"}, "jwks", "private_key_jwt"),
        (
            {"name": "x", "jwks": {"keys": []}, "token_endpoint_auth_method": "private_key_jwt"},
            "jwks",
            "not a valid JWK Set",
        ),
        ({"name": "x", "resources": ["not a uri"]}, "resources", "absolute URI"),
        ({"name": "x", "logo_uri": "ftp://x.example/l.png"}, "logo_uri", "logo_uri"),
        ({"name": "x", "contacts": ["not-an-email"]}, "contacts", "email"),
        ({"name": "x", "colour": "blue"}, "colour", "not a client field"),
    ],
)
def test_bad_client_input_is_a_422_naming_the_field(http, as_admin, cli, body, field, contains):
    assert_problem(http.post(API + "/clients", json=body, headers=as_admin), 422, field=field, contains=contains)
    assert [c["name"] for c in cli("client", "list", "--json").json()] == ["terraform"]


def test_the_api_and_the_cli_refuse_alike(http, as_admin, cli):
    """The same rule, the same words: the CLI names the option, the API the field."""
    api = http.post(API + "/clients", json={"name": "x", "grant_types": ["authorization_code"]}, headers=as_admin)
    err = cli("client", "create", "--name", "x", "--grant-type", "authorization_code").err
    assert api.json()["detail"] == "authorization_code needs at least one redirect_uris"
    assert err.strip() == "authserver: error: authorization_code needs at least one --redirect-uri"


@pytest.mark.parametrize(
    ("content_type", "data", "status"),
    [
        ("text/plain", b'{"name": "x"}', 415),
        ("application/json", b"{not json", 400),
        ("application/json", b'["name"]', 400),
        ("application/json", b"\xff\xfe", 400),
    ],
)
def test_bodies_that_are_not_a_json_object(http, as_admin, content_type, data, status):
    response = http.post(API + "/clients", content=data, headers={**as_admin, "Content-Type": content_type})
    assert_problem(response, status)


def test_an_oversized_body_is_413(make_app, admin):
    http = make_app(max_body_bytes=2048)
    headers = bearer(client_token(http, admin)["access_token"])
    response = http.post(API + "/clients", json={"name": "x" * 5000}, headers=headers)
    assert response.status_code == 413 and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"public": True}, "public"),
        ({"admin": True}, "admin"),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
    ],
)
def test_fields_fixed_at_registration_cannot_be_patched(http, as_admin, register, body, field):
    client = register()
    response = http.patch(API + "/clients/" + client["client_id"], json=body, headers=as_admin)
    assert_problem(response, 422, field=field, contains="cannot be changed")


def test_a_patch_is_checked_as_a_whole(http, as_admin, register):
    client = register("--redirect-uri", "https://app.example/cb")
    response = http.patch(API + "/clients/" + client["client_id"], json={"redirect_uris": []}, headers=as_admin)
    assert_problem(response, 422, field="redirect_uris", contains="authorization_code needs")


def test_lost_update_is_412(http, as_admin, register):
    client = register()
    url = API + "/clients/" + client["client_id"]
    etag = http.get(url, headers=as_admin).headers["etag"]
    first = http.patch(url, json={"name": "first"}, headers={**as_admin, "If-Match": etag})
    assert first.status_code == 200
    second = http.patch(url, json={"name": "second"}, headers={**as_admin, "If-Match": etag})
    assert_problem(second, 412, contains="ETag")
    assert http.get(url, headers=as_admin).json()["name"] == "first"
    for bad in ('"u1"', "garbage", '"c"', 'W/"c1"'):
        assert_problem(http.patch(url, json={"name": "x"}, headers={**as_admin, "If-Match": bad}), 412)
    # A change by the CLI moves the ETag too.
    fresh = http.get(url, headers=as_admin).headers["etag"]
    assert http.post(API + f"/clients/{client['client_id']}/disable", headers=as_admin).status_code == 200
    assert_problem(http.patch(url, json={"name": "x"}, headers={**as_admin, "If-Match": fresh}), 412)


def test_clients_page_through_more_than_a_page(http, as_admin, register):
    made = [register(name=f"c{i}")["client_id"] for i in range(5)]
    seen: list[str] = []
    url: str | None = API + "/clients?limit=2"
    pages = 0
    while url:
        response = http.get(url, headers=as_admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= 2
        seen += [c["client_id"] for c in body["items"]]
        url = body["next"]
        if url:
            assert response.headers["link"] == f'<{url}>; rel="next"'
        pages += 1
    assert pages == 3
    assert len(seen) == 6 and set(seen) >= set(made)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm9wZQ", "cursor"),
    ],
)
def test_bad_paging_parameters(http, as_admin, query, field):
    assert_problem(http.get(API + "/clients?" + query, headers=as_admin), 400, field=field)


def test_repeated_query_parameters_are_refused(http, as_admin):
    assert_problem(http.get(API + "/clients?limit=1&limit=2", headers=as_admin), 400)


# --- users ------------------------------------------------------------------------------------


def test_user_lifecycle(http, as_admin, cli):
    created = http.post(
        API + "/users",
        json={"username": "bob", "email": "Bob@Example.com", "name": "Bob", "password": PASSWORD},
        headers=as_admin,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "bob" and user["email"] == "bob@example.com" and "password" not in user
    assert cli("user", "show", "bob", "--json").json() == user
    url = API + "/users/" + user["id"]
    etag = created.headers["etag"]
    patched = http.patch(url, json={"name": "Robert", "email_verified": True}, headers={**as_admin, "If-Match": etag})
    assert patched.status_code == 200 and patched.json()["name"] == "Robert" and patched.json()["email_verified"]
    assert_problem(http.patch(url, json={"name": "x"}, headers={**as_admin, "If-Match": etag}), 412)
    moved = http.patch(url, json={"email": "robert@example.com"}, headers=as_admin).json()
    assert moved["email"] == "robert@example.com" and moved["email_verified"] is False
    assert (
        http.post(url + "/password", json={"password": "another long passphrase 7"}, headers=as_admin).status_code
        == 204
    )
    assert http.post(url + "/disable", headers=as_admin).json()["disabled"] is True
    assert http.post(url + "/enable", headers=as_admin).json()["disabled"] is False
    reset = http.post(url + "/mfa/reset", headers=as_admin)
    assert reset.status_code == 200 and reset.json()["mfa_removed"] is False
    assert http.get(url + "/sessions", headers=as_admin).json() == {"items": [], "next": None}
    assert http.delete(url + "/sessions", headers=as_admin).json() == {"sessions_ended": 0}
    assert_problem(http.delete(url + "/sessions/nope", headers=as_admin), 404)
    assert http.get(url + "/grants", headers=as_admin).json() == {"items": [], "next": None}
    assert http.delete(url, headers=as_admin).status_code == 204
    assert_problem(http.get(url, headers=as_admin), 404)
    events = [
        e["event"]
        for e in http.get(API + "/audit-events", params={"event": "password.changed"}, headers=as_admin).json()["items"]
    ]
    assert events == ["password.changed"]


@pytest.mark.parametrize(
    ("body", "field", "contains"),
    [
        ({"email": "a@example.com", "password": PASSWORD}, "username", "required"),
        ({"username": "a b", "email": "a@example.com", "password": PASSWORD}, "username", "letters"),
        ({"username": "ab", "email": "nope", "password": PASSWORD}, "email", "email address"),
        ({"username": "ab", "email": "a@example.com", "password": "short"}, "password", "at least 12"),
        ({"username": "ab", "email": "a@example.com"}, "password", "required"),
        ({"username": "ab", "email": "a@example.com", "password": PASSWORD, "name": "x\ny"}, "name", "one line"),
        (
            {"username": "ab", "email": "a@example.com", "password": PASSWORD, "admin": True},
            "admin",
            "not a user field",
        ),
        ({"username": 1, "email": "a@example.com", "password": PASSWORD}, "username", "string"),
    ],
)
def test_bad_user_input_is_a_422_naming_the_field(http, as_admin, body, field, contains):
    response = http.post(API + "/users", json=body, headers=as_admin)
    body_ = assert_problem(response, 422, field=field, contains=contains)
    if "password" in body and isinstance(body.get("password"), str):
        assert body["password"] not in str(body_)


def test_duplicate_users_are_409(http, as_admin, alice):
    response = http.post(
        API + "/users", json={"username": "ALICE", "email": "x@example.com", "password": PASSWORD}, headers=as_admin
    )
    assert_problem(response, 409, contains="already taken")
    other = http.post(
        API + "/users", json={"username": "carol", "email": "c@example.com", "password": PASSWORD}, headers=as_admin
    ).json()
    assert_problem(
        http.patch(API + "/users/" + other["id"], json={"email": "alice@example.com"}, headers=as_admin), 409
    )


def test_users_cannot_patch_a_password_or_unknown_fields(http, as_admin, alice):
    url = API + "/users/" + alice["id"]
    assert_problem(http.patch(url, json={"password": PASSWORD}, headers=as_admin), 422, field="password")
    assert_problem(http.patch(url, json={"id": "x"}, headers=as_admin), 422, field="id")
    assert_problem(
        http.post(url + "/password", json={"password": "alice@example.com"}, headers=as_admin), 422, field="password"
    )


def test_users_search_and_page(http, as_admin, cli):
    for name in ("ann", "andy", "bert", "anita"):
        http.post(
            API + "/users",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
            headers=as_admin,
        )
    first = http.get(API + "/users", params={"search": "AN", "limit": 2}, headers=as_admin).json()
    assert len(first["items"]) == 2 and first["next"]
    second = http.get(first["next"], headers=as_admin).json()
    assert len(second["items"]) == 1 and second["next"] is None
    # Oldest first (ties within a second by id): each user once, and only those matching.
    assert sorted(u["username"] for u in first["items"] + second["items"]) == ["andy", "anita", "ann"]
    assert http.get(API + "/users", params={"search": "%"}, headers=as_admin).json()["items"] == []


# --- keys, consents, audit --------------------------------------------------------------------


def test_keys_list_rotate_retire(http, as_admin, read_only):
    keys = http.get(API + "/keys", headers=read_only).json()["items"]
    assert [k["state"] for k in keys] == ["active"]
    assert_problem(http.post(API + "/keys", headers=read_only), 403)
    rotated = http.post(API + "/keys", headers=as_admin)
    assert rotated.status_code == 201
    kid = rotated.json()["kid"]
    assert kid in [k["kid"] for k in http.get("/jwks.json").json()["keys"]]
    assert_problem(http.post(API + f"/keys/{keys[0]['kid']}/retire", headers=as_admin), 409, contains="active key")
    assert http.post(API + f"/keys/{kid}/retire", headers=as_admin).status_code == 200
    assert kid not in [k["kid"] for k in http.get("/jwks.json").json()["keys"]]
    assert_problem(http.post(API + f"/keys/{kid}/retire", headers=as_admin), 404)


def test_consents_need_a_user(http, as_admin, alice):
    assert_problem(http.get(API + "/consents", headers=as_admin), 400, field="user_id")
    assert_problem(http.get(API + "/consents", params={"user_id": "nobody"}, headers=as_admin), 404)
    assert http.get(API + "/consents", params={"user_id": alice["id"]}, headers=as_admin).json()["items"] == []
    assert_problem(http.delete(API + f"/users/{alice['id']}/consents/nope", headers=as_admin), 404)
    assert_problem(http.delete(API + f"/users/{alice['id']}/grants/nope", headers=as_admin), 404)


def test_audit_events_filter_and_page(http, as_admin, cli, alice, admin):
    for _ in range(3):
        assert http.post(API + f"/users/{alice['id']}/disable", headers=as_admin).status_code == 200
        assert http.post(API + f"/users/{alice['id']}/enable", headers=as_admin).status_code == 200
    by_user = http.get(API + "/audit-events", params={"user": "alice", "limit": 2}, headers=as_admin).json()
    assert len(by_user["items"]) == 2 and by_user["next"]
    names: list[str] = []
    url = API + f"/audit-events?user={alice['id']}&limit=2"
    while url:
        page = http.get(url, headers=as_admin).json()
        names += [e["event"] for e in page["items"]]
        url = page["next"]
    assert [n for n in names if n.startswith("user.")] == ["user.disabled", "user.enabled"] * 3
    by_client = http.get(API + "/audit-events", params={"client": admin["client_id"]}, headers=as_admin).json()
    assert by_client["items"] and all(e["client_id"] == admin["client_id"] for e in by_client["items"])
    future = http.get(API + "/audit-events", params={"since": "2999-01-01T00:00:00Z"}, headers=as_admin).json()
    assert future == {"items": [], "next": None}
    past = http.get(API + "/audit-events", params={"until": "2000-01-01T00:00:00Z"}, headers=as_admin).json()
    assert past["items"] == []
    for query, field in (
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "until"),
        ({"event": ""}, "event"),
        ({"cursor": "eA"}, "cursor"),
    ):
        assert_problem(http.get(API + "/audit-events", params=query, headers=as_admin), 400, field=field)


# --- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_document_matches_the_routes(http):
    response = http.get(API + "/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), API + path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    routed = {
        (method, route.path)
        for route in http.app.routes
        if isinstance(route, Route) and route.path.startswith(API)
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert routed - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routed == set(), "documented operations without a route"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            scopes = [s for req in operation["security"] for s in req.get("adminToken", [])]
            assert path == "/openapi.json" or scopes in (["admin:read"], ["admin:write"]), (path, method)
            for response_ in operation["responses"].values():
                for schema in response_.get("content", {}).values():
                    ref = schema["schema"].get("$ref")
                    if ref:
                        assert ref.split("/")[-1] in document["components"]["schemas"], ref


# --- a signed-in user's sessions, grants and consents -----------------------------------------


def _signed_in(http, app) -> dict:  # type: ignore[no-untyped-def]
    from tests.helpers import exchange, sign_in

    callback, verifier, _ = sign_in(http, app, scope="openid profile offline_access")
    tokens = exchange(http, app, callback["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def _active(http, app, token: str) -> bool:  # type: ignore[no-untyped-def]
    response = http.post("/introspect", data={"token": token}, headers=basic(app["client_id"], app["client_secret"]))
    return bool(response.json()["active"])


def test_revoking_a_grant_ends_the_apps_tokens_and_its_consent(http, admin, app, alice):
    headers = bearer(client_token(http, admin)["access_token"])
    tokens = _signed_in(http, app)
    grants = http.get(API + f"/users/{alice['id']}/grants", headers=headers).json()["items"]
    assert [g["client_id"] for g in grants] == [app["client_id"]]
    assert "offline_access" in grants[0]["scope"]
    consents = http.get(API + "/consents", params={"user_id": alice["id"]}, headers=headers).json()["items"]
    assert consents == grants
    revoked = http.delete(API + f"/users/{alice['id']}/grants/{app['client_id']}", headers=headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["consent_removed"] is True and revoked.json()["grants_revoked"] >= 1
    assert not _active(http, app, tokens["refresh_token"])
    assert not _active(http, app, tokens["access_token"])
    assert http.get(API + f"/users/{alice['id']}/grants", headers=headers).json()["items"] == []


def test_deleting_a_consent_keeps_the_tokens(http, admin, app, alice):
    headers = bearer(client_token(http, admin)["access_token"])
    tokens = _signed_in(http, app)
    assert http.delete(API + f"/users/{alice['id']}/consents/{app['client_id']}", headers=headers).status_code == 204
    assert http.get(API + "/consents", params={"user_id": alice["id"]}, headers=headers).json()["items"] == []
    assert _active(http, app, tokens["refresh_token"])


def test_ending_one_session_and_then_all(http, admin, app, alice):
    from tests.helpers import sign_in

    headers = bearer(client_token(http, admin)["access_token"])
    sign_in(http, app)
    http.cookies.clear()
    sign_in(http, app)
    sessions = http.get(API + f"/users/{alice['id']}/sessions", headers=headers).json()["items"]
    assert len(sessions) == 2 and all(s["sid"] and s["amr"] for s in sessions)
    one = http.delete(API + f"/users/{alice['id']}/sessions/{sessions[0]['sid']}", headers=headers)
    assert one.json() == {"sessions_ended": 1}
    left = http.get(API + f"/users/{alice['id']}/sessions", headers=headers).json()["items"]
    assert [s["sid"] for s in left] == [sessions[1]["sid"]]
    assert http.delete(API + f"/users/{alice['id']}/sessions", headers=headers).json() == {"sessions_ended": 1}
    # The browser's session is gone: /authorize asks it to sign in again.
    from tests.helpers import authorize, authorize_params, pkce_pair

    response = authorize(http, authorize_params(app, pkce_pair()[1]))
    assert response.headers["location"].startswith("/login")


def test_disabling_a_user_ends_their_tokens(http, admin, app, alice):
    headers = bearer(client_token(http, admin)["access_token"])
    tokens = _signed_in(http, app)
    disabled = http.post(API + f"/users/{alice['id']}/disable", headers=headers)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert not _active(http, app, tokens["refresh_token"])
    assert http.post(API + f"/users/{alice['id']}/enable", headers=headers).status_code == 200
    assert not _active(http, app, tokens["refresh_token"])  # enabling restores none of them
