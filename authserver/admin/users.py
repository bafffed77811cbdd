"""/admin/api/v1/users: the operations of `authserver user`, over HTTP, and a user's sessions, grants
and consents."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from authserver.admin import paging
from authserver.admin.call import Call, Result, operation
from authserver.admin.clients import expected_version
from authserver.admin.problems import Problem
from authserver.domain import ADMIN_READ, ADMIN_WRITE, User
from authserver.interaction.sessions import end_session_sync
from authserver.manage import users
from authserver.manage.deletion import delete_account
from authserver.manage.errors import Invalid, NotFound

MAX_SEARCH = 200


def etag(user: User) -> str:
    return f'"u{user.version}"'


def _shown(user: User) -> tuple[dict[str, Any], dict[str, str]]:
    return users.describe(user), {"etag": etag(user)}


def _user(call: Call) -> User:
    return users.get(call.svc.store, call.path["user_id"])


def _end(call: Call) -> Any:
    def end(user_id: str, reason: str) -> int:
        return users.end_tokens(
            call.svc.store,
            call.svc.denylist,
            call.svc.events,
            user_id,
            reason=reason,
            access_ttl=call.svc.settings.access_token_ttl,
            by="admin-api",
        )

    return end


def _field(body: dict[str, Any], key: str, kind: type, default: Any = None, *, required: bool = False) -> Any:
    if key not in body:
        if required:
            raise Invalid("{" + key + "} is required", field=key)
        return default
    value = body[key]
    if not isinstance(value, kind):
        raise Invalid("{" + key + "} must be " + ("true or false" if kind is bool else "a string"), field=key)
    return value


def list_users(call: Call) -> Result:
    size = paging.limit(call)
    after = paging.cursor(call)
    search = call.query.get("search") or None
    if search is not None and len(search) > MAX_SEARCH:
        raise Problem(400, "invalid-parameter", f"search is at most {MAX_SEARCH} characters", field="search")
    if after is not None and call.svc.store.get_user(after) is None:
        raise paging.bad_cursor()
    rows = call.svc.store.list_users(limit=size + 1, after=after, search=search)
    shown = rows[:size]
    return paging.page(call, rows, [users.describe(u) for u in shown], size, shown[-1].id if shown else None)


def create_user(call: Call) -> Result:
    body = call.body
    for key in body:
        if key not in ("username", "email", "name", "password", "email_verified"):
            raise Invalid("{" + key + "} is not a user field", field=key)
    user = users.create(
        call.svc.store,
        call.svc.passwords,
        now=int(call.svc.clock()),
        username=_field(body, "username", str, required=True),
        email=_field(body, "email", str, required=True),
        name=_field(body, "name", str, ""),
        password=_field(body, "password", str, required=True),
        email_verified=_field(body, "email_verified", bool, False),
    )
    call.emit("user.created", user_id=user.id)
    data, headers = _shown(user)
    headers["location"] = f"{call.url}/{user.id}"
    return 201, data, headers


def show_user(call: Call) -> Result:
    data, headers = _shown(_user(call))
    return 200, data, headers


def update_user(call: Call) -> Result:
    version = expected_version(call, "u")
    user = users.update(call.svc.store, call.path["user_id"], call.body, expected_version=version)
    call.emit("user.updated", user_id=user.id, fields=sorted(call.body))
    data, headers = _shown(user)
    return 200, data, headers


def delete_user(call: Call) -> Result:
    user = _user(call)
    svc = call.svc

    def deny(grants: list[str]) -> None:
        svc.denylist.deny_grants(grants, reason="account_deleted", access_ttl=svc.settings.access_token_ttl)

    farewell = svc.mail.compose("account_deleted", user.email, name=user.name or user.username, username=user.username)
    done = delete_account(
        svc.store,
        user,
        server_secret=svc.settings.secret_bytes(),
        deny_grants=deny,
        farewell=[farewell],
        now=int(svc.clock()),
    )
    if done is None:
        raise NotFound("no user", value=user.id)
    call.emit(
        "user.deleted", user_id=done.pseudonym, sessions_ended=done.sessions_ended, grants_revoked=done.grants_revoked
    )
    return 204, None, {}


def _disabled(call: Call, disabled: bool) -> Result:
    user = _user(call)
    revoked = users.set_disabled(call.svc.store, user, disabled, end=_end(call))
    call.emit("user.disabled" if disabled else "user.enabled", user_id=user.id, grants_revoked=revoked)
    data, headers = _shown(users.get(call.svc.store, user.id))
    return 200, data, headers


def disable_user(call: Call) -> Result:
    return _disabled(call, True)


def enable_user(call: Call) -> Result:
    return _disabled(call, False)


def set_password(call: Call) -> Result:
    user = _user(call)
    for key in call.body:
        if key != "password":
            raise Invalid("{" + key + "} is not accepted here (only password)", field=key)
    users.set_password(call.svc.store, call.svc.passwords, user, _field(call.body, "password", str, required=True))
    call.emit("password.changed", user_id=user.id)
    return 204, None, {}


def reset_mfa(call: Call) -> Result:
    user = _user(call)
    result = users.reset_mfa(call.svc.store, user, end=_end(call), events=call.svc.events, by="admin-api")
    return 200, {"id": user.id, **result}, {}


def _session(session: Any) -> dict[str, Any]:
    return {
        "sid": session.sid,
        "created_at": session.created_at,
        "last_seen_at": session.last_seen_at,
        "expires_at": session.expires_at,
        "auth_time": session.auth_time,
        "amr": list(session.amr),
        "acr": session.acr,
    }


def list_sessions(call: Call) -> Result:
    user = _user(call)
    sessions = call.svc.store.list_user_sessions(user.id)
    return 200, {"items": [_session(s) for s in sessions], "next": None}, {}


def end_sessions(call: Call) -> Result:
    user = _user(call)
    sid = call.path.get("sid")
    sessions = [s for s in call.svc.store.list_user_sessions(user.id) if sid is None or s.sid == sid]
    if sid is not None and not sessions:
        raise NotFound("no session", value=sid)
    for session in sessions:
        end_session_sync(call.svc, session, reason="revoked_by_admin")
    call.emit("session.revoked", user_id=user.id, count=len(sessions))
    return 200, {"sessions_ended": len(sessions)}, {}


def _consents(call: Call, user: User) -> list[dict[str, Any]]:
    return [
        {"client_id": client_id, "scope": " ".join(sorted(scopes)), "updated_at": updated_at}
        for client_id, scopes, updated_at in call.svc.store.list_consents(user.id)
    ]


def list_grants(call: Call) -> Result:
    """The apps the user let in (consents); revoking one also ends the tokens it holds."""
    user = _user(call)
    return 200, {"items": _consents(call, user), "next": None}, {}


def revoke_grant(call: Call) -> Result:
    user = _user(call)
    client_id = call.path["client_id"]
    removed = call.svc.store.delete_consent(user.id, client_id)
    grants = call.svc.store.revoke_user_client_grants(user.id, client_id, int(call.svc.clock()))
    for grant_id in grants:
        call.svc.server.tokens.revoke_grant(grant_id, reason="revoked_by_admin")
    if not removed and not grants:
        raise NotFound("no grant of that client", value=client_id)
    call.emit("consent.revoked", user_id=user.id, client_id=client_id, grants_revoked=len(grants))
    return 200, {"client_id": client_id, "consent_removed": removed, "grants_revoked": len(grants)}, {}


def list_consents(call: Call) -> Result:
    user_id = call.query.get("user_id")
    if not user_id:
        raise Problem(400, "invalid-parameter", "user_id is required", field="user_id")
    user = users.get(call.svc.store, user_id)
    return 200, {"items": _consents(call, user), "next": None}, {}


def delete_consent(call: Call) -> Result:
    """Forget a consent (the next sign-in asks again); tokens already issued stay (see grants)."""
    user = _user(call)
    client_id = call.path["client_id"]
    if not call.svc.store.delete_consent(user.id, client_id):
        raise NotFound("no consent of that user for that client", value=client_id)
    call.emit("consent.deleted", user_id=user.id, client_id=client_id)
    return 204, None, {}


ROUTES: list[Route] = [
    operation("GET", "/users", ADMIN_READ, list_users),
    operation("POST", "/users", ADMIN_WRITE, create_user, body=True),
    operation("GET", "/users/{user_id}", ADMIN_READ, show_user),
    operation("PATCH", "/users/{user_id}", ADMIN_WRITE, update_user, body=True),
    operation("DELETE", "/users/{user_id}", ADMIN_WRITE, delete_user),
    operation("POST", "/users/{user_id}/disable", ADMIN_WRITE, disable_user),
    operation("POST", "/users/{user_id}/enable", ADMIN_WRITE, enable_user),
    operation("POST", "/users/{user_id}/password", ADMIN_WRITE, set_password, body=True),
    operation("POST", "/users/{user_id}/mfa/reset", ADMIN_WRITE, reset_mfa),
    operation("GET", "/users/{user_id}/sessions", ADMIN_READ, list_sessions),
    operation("DELETE", "/users/{user_id}/sessions", ADMIN_WRITE, end_sessions),
    operation("DELETE", "/users/{user_id}/sessions/{sid}", ADMIN_WRITE, end_sessions),
    operation("GET", "/users/{user_id}/grants", ADMIN_READ, list_grants),
    operation("DELETE", "/users/{user_id}/grants/{client_id}", ADMIN_WRITE, revoke_grant),
    operation("GET", "/consents", ADMIN_READ, list_consents),
    operation("DELETE", "/users/{user_id}/consents/{client_id}", ADMIN_WRITE, delete_consent),
]
