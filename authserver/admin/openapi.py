"""GET /admin/api/v1/openapi.json: the OpenAPI 3.1 description of the admin API.

Written by hand, apart from the route table, on purpose: tests/http/test_admin_openapi.py checks the two
against each other (every route documented, every documented operation routed)."""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver.services import services
from authserver.web.responses import json_response

_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_STRS = {"type": "array", "items": _STR}
_NULLABLE_STR = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


_ERRORS = {
    "401": _problem("no valid admin access token"),
    "403": _problem("the token lacks the operation's scope (insufficient_scope)"),
    "429": _problem("rate limited (Retry-After)"),
}
_PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "cursor", "in": "query", "schema": _STR, "description": "the `next` link's cursor"},
]
_IF_MATCH = {"name": "If-Match", "in": "header", "schema": _STR, "description": "the ETag read; 412 if it changed"}


def _op(
    summary: str,
    scope: str,
    ok: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
    errors: tuple[str, ...] = (),
) -> dict[str, Any]:
    responses = {**ok, **_ERRORS}
    for code in errors:
        responses[code] = _problem(
            {
                "400": "bad query parameter or JSON",
                "404": "not found",
                "409": "conflict",
                "412": "lost update: changed since read",
                "422": "invalid field (`field` names it)",
            }[code]
        )
    operation: dict[str, Any] = {"summary": summary, "security": [{"adminToken": [scope]}], "responses": responses}
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = {"required": True, **_json(_ref(body))}
    return operation


def _page(item: str) -> dict[str, Any]:
    return {"200": {"description": "a page", **_json(_ref(item + "Page"))}}


def _one(item: str, code: str = "200", description: str = "the resource (ETag header)") -> dict[str, Any]:
    return {code: {"description": description, **_json(_ref(item))}}


_NONE = {"204": {"description": "done"}}
_DONE = {"200": {"description": "what was done", **_json({"type": "object"})}}
R, W = "admin:read", "admin:write"
_CLIENT_ID = {"name": "client_id", "in": "path", "required": True, "schema": _STR}
_USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": _STR}

_CLIENT_FIELDS: dict[str, Any] = {
    "name": _STR,
    "grant_types": _STRS,
    "redirect_uris": _STRS,
    "post_logout_redirect_uris": _STRS,
    "scope": _STR,
    "resources": _STRS,
    "public": _BOOL,
    "token_endpoint_auth_method": {"enum": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]},
    "jwks": {"type": ["object", "null"]},
    "first_party": _BOOL,
    "require_mfa": _BOOL,
    "require_pushed_authorization_requests": _BOOL,
    "require_signed_request_object": _BOOL,
    "dpop_bound_access_tokens": _BOOL,
    "backchannel_logout_uri": _NULLABLE_STR,
    "backchannel_logout_session_required": _BOOL,
    "introspect": _STRS,
    "admin": _BOOL,
    "client_uri": _NULLABLE_STR,
    "logo_uri": _NULLABLE_STR,
    "policy_uri": _NULLABLE_STR,
    "tos_uri": _NULLABLE_STR,
    "contacts": {"type": ["array", "null"], "items": _STR},
}
_USER_FIELDS: dict[str, Any] = {"username": _STR, "email": _STR, "name": _STR, "email_verified": _BOOL}


def _page_schema(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref(item)}, "next": _NULLABLE_STR},
    }


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "authserver admin API",
        "version": "1",
        "description": "Manage clients, users, keys, consents and the audit trail. Authorize with an access token "
        "of this issuer obtained by client credentials by a client created with `authserver client create "
        "--admin` (scopes admin:read, admin:write). Errors are RFC 9457 problem details.",
    },
    "servers": [{"url": "/admin/api/v1"}],
    "components": {
        "securitySchemes": {
            "adminToken": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "/token",
                        "scopes": {R: "read clients, users, keys, consents, audit events", W: "change them"},
                    }
                },
            }
        },
        "schemas": {
            "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": _STR,
                    "title": _STR,
                    "status": {"type": "integer"},
                    "detail": _STR,
                    "field": _STR,
                },
            },
            "ClientInput": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": _CLIENT_FIELDS,
            },
            "ClientChanges": {"type": "object", "additionalProperties": False, "properties": _CLIENT_FIELDS},
            "Client": {
                "type": "object",
                "properties": {
                    "client_id": _STR,
                    **_CLIENT_FIELDS,
                    "client_secret": {"type": "string", "description": "only at creation and rotation"},
                    "registered_by": _STR,
                    "disabled": _BOOL,
                    "created_at": {"type": "integer"},
                },
            },
            "ClientPage": _page_schema("Client"),
            "UserInput": {
                "type": "object",
                "required": ["username", "email", "password"],
                "additionalProperties": False,
                "properties": {**_USER_FIELDS, "password": _STR},
            },
            "UserChanges": {"type": "object", "additionalProperties": False, "properties": _USER_FIELDS},
            "Password": {
                "type": "object",
                "required": ["password"],
                "additionalProperties": False,
                "properties": {"password": _STR},
            },
            "User": {
                "type": "object",
                "properties": {
                    "id": _STR,
                    **_USER_FIELDS,
                    "disabled": _BOOL,
                    "created_at": {"type": "integer"},
                },
            },
            "UserPage": _page_schema("User"),
            "Session": {"type": "object", "properties": {"sid": _STR, "created_at": {"type": "integer"}}},
            "SessionPage": _page_schema("Session"),
            "Consent": {"type": "object", "properties": {"client_id": _STR, "scope": _STR}},
            "ConsentPage": _page_schema("Consent"),
            "Key": {"type": "object", "properties": {"kid": _STR, "alg": _STR, "state": _STR}},
            "KeyPage": _page_schema("Key"),
            "Upstream": {
                "type": "object",
                "properties": {
                    "name": _STR,
                    "display_name": _STR,
                    "kind": {"type": "string", "enum": ["oidc", "oauth2"]},
                    "issuer": _NULLABLE_STR,
                    "client_id": _STR,
                    "redirect_uri": _STR,
                    "scope": _STR,
                    "signup": _BOOL,
                    "link_by_email": _BOOL,
                    "trust_mfa": _BOOL,
                },
            },
            "UpstreamPage": _page_schema("Upstream"),
            "AuditEvent": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "time": _STR, "event": _STR, "data": {"type": "object"}},
            },
            "AuditEventPage": _page_schema("AuditEvent"),
        },
    },
    "paths": {
        "/clients": {
            "get": _op("list clients, oldest first", R, _page("Client"), params=_PAGE_PARAMS, errors=("400",)),
            "post": _op(
                "register a client (its secret is in this response only)",
                W,
                _one("Client", "201", "the client, with client_secret"),
                body="ClientInput",
                errors=("400", "422"),
            ),
        },
        "/clients/{client_id}": {
            "parameters": [_CLIENT_ID],
            "get": _op("show a client", R, _one("Client"), errors=("404",)),
            "patch": _op(
                "change fields of a client (the same rules as creation)",
                W,
                _one("Client"),
                params=[_IF_MATCH],
                body="ClientChanges",
                errors=("400", "404", "412", "422"),
            ),
            "delete": _op("delete a client", W, _NONE, errors=("404",)),
        },
        "/clients/{client_id}/disable": {
            "parameters": [_CLIENT_ID],
            "post": _op("disable a client (its tokens stop working)", W, _one("Client"), errors=("404",)),
        },
        "/clients/{client_id}/enable": {
            "parameters": [_CLIENT_ID],
            "post": _op("enable a client", W, _one("Client"), errors=("404",)),
        },
        "/clients/{client_id}/secret": {
            "parameters": [_CLIENT_ID],
            "post": _op(
                "rotate the secret (the new one is in this response only)", W, _one("Client"), errors=("404", "409")
            ),
        },
        "/users": {
            "get": _op(
                "list users, oldest first",
                R,
                _page("User"),
                params=[*_PAGE_PARAMS, {"name": "search", "in": "query", "schema": _STR}],
                errors=("400",),
            ),
            "post": _op("create a user", W, _one("User", "201"), body="UserInput", errors=("400", "409", "422")),
        },
        "/users/{user_id}": {
            "parameters": [_USER_ID],
            "get": _op("show a user", R, _one("User"), errors=("404",)),
            "patch": _op(
                "change username, email, name or email_verified",
                W,
                _one("User"),
                params=[_IF_MATCH],
                body="UserChanges",
                errors=("400", "404", "409", "412", "422"),
            ),
            "delete": _op("delete a user and everything attached", W, _NONE, errors=("404",)),
        },
        "/users/{user_id}/disable": {
            "parameters": [_USER_ID],
            "post": _op("disable a user (every token ends)", W, _one("User"), errors=("404",)),
        },
        "/users/{user_id}/enable": {
            "parameters": [_USER_ID],
            "post": _op("enable a user", W, _one("User"), errors=("404",)),
        },
        "/users/{user_id}/password": {
            "parameters": [_USER_ID],
            "post": _op("set the password", W, _NONE, body="Password", errors=("400", "404", "422")),
        },
        "/users/{user_id}/mfa/reset": {
            "parameters": [_USER_ID],
            "post": _op("remove second factors and passkeys", W, _DONE, errors=("404",)),
        },
        "/users/{user_id}/sessions": {
            "parameters": [_USER_ID],
            "get": _op("the user's browser sessions", R, _page("Session"), errors=("404",)),
            "delete": _op("end every session", W, _DONE, errors=("404",)),
        },
        "/users/{user_id}/sessions/{sid}": {
            "parameters": [_USER_ID, {"name": "sid", "in": "path", "required": True, "schema": _STR}],
            "delete": _op("end one session", W, _DONE, errors=("404",)),
        },
        "/users/{user_id}/grants": {
            "parameters": [_USER_ID],
            "get": _op("the apps the user let in", R, _page("Consent"), errors=("404",)),
        },
        "/users/{user_id}/grants/{client_id}": {
            "parameters": [_USER_ID, _CLIENT_ID],
            "delete": _op("revoke an app: its consent and its tokens", W, _DONE, errors=("404",)),
        },
        "/users/{user_id}/consents/{client_id}": {
            "parameters": [_USER_ID, _CLIENT_ID],
            "delete": _op("forget a consent (the next sign-in asks again)", W, _NONE, errors=("404",)),
        },
        "/consents": {
            "get": _op(
                "a user's consents",
                R,
                _page("Consent"),
                params=[{"name": "user_id", "in": "query", "required": True, "schema": _STR}],
                errors=("400", "404"),
            ),
        },
        "/keys": {
            "get": _op("signing keys and their state", R, _page("Key")),
            "post": _op("rotate: publish a new key", W, _one("Key", "201"), errors=("409",)),
        },
        "/keys/{kid}/retire": {
            "parameters": [{"name": "kid", "in": "path", "required": True, "schema": _STR}],
            "post": _op("stop publishing a key that does not sign", W, _DONE, errors=("404", "409")),
        },
        "/upstreams": {
            "get": _op("upstream identity providers (add one with `authserver upstream add`)", R, _page("Upstream")),
        },
        "/upstreams/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": _STR}],
            "get": _op("show an upstream (never its client secret)", R, _one("Upstream"), errors=("404",)),
            "delete": _op("remove an upstream; every account is unlinked from it", W, _NONE, errors=("404",)),
        },
        "/audit-events": {
            "get": _op(
                "audit events, oldest first",
                R,
                _page("AuditEvent"),
                params=[
                    *_PAGE_PARAMS,
                    *(
                        {"name": name, "in": "query", "schema": _STR}
                        for name in ("user", "client", "event", "since", "until")
                    ),
                ],
                errors=("400",),
            ),
        },
        "/openapi.json": {
            "get": {
                "summary": "this document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", **_json({"type": "object"})}},
            }
        },
    },
}


async def openapi(request: Request) -> Response:
    svc = services(request)
    document = copy.deepcopy(DOCUMENT)
    document["servers"] = [{"url": svc.settings.issuer + "/admin/api/v1"}]
    flows = document["components"]["securitySchemes"]["adminToken"]["flows"]
    flows["clientCredentials"]["tokenUrl"] = svc.settings.issuer + "/token"
    return json_response(document)
