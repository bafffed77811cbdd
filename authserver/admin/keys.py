"""/admin/api/v1/keys (signing keys) and /admin/api/v1/audit-events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.routing import Route

from authserver.admin import paging
from authserver.admin.call import Call, Result, operation
from authserver.admin.problems import Problem
from authserver.domain import ADMIN_READ, ADMIN_WRITE
from authserver.manage import keys

MAX_FILTER = 200


def list_keys(call: Call) -> Result:
    return 200, {"items": [keys.describe(s) for s in call.svc.keys.describe()], "next": None}, {}


def rotate_key(call: Call) -> Result:
    key = keys.rotate(call.svc.keys)
    call.svc.keyring.reload()  # this worker publishes it at once; the others within KEY_REFRESH_SECONDS
    call.emit("key.rotated", kid=key.kid)
    return 201, keys.describe_new(key), {}


def retire_key(call: Call) -> Result:
    keys.retire(call.svc.keys, call.path["kid"])
    call.svc.keyring.reload()
    call.emit("key.retired", kid=call.path["kid"])
    return 200, {"kid": call.path["kid"], "retired": True}, {}


def _time(call: Call, name: str) -> int | None:
    raw = call.query.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, "invalid-parameter", f"{name} must be an ISO 8601 time", field=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _text(call: Call, name: str) -> str | None:
    value = call.query.get(name)
    if value is not None and (not value or len(value) > MAX_FILTER):
        raise Problem(400, "invalid-parameter", f"{name} must be 1 to {MAX_FILTER} characters", field=name)
    return value


def _event(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "time": datetime.fromtimestamp(row.ts, UTC).isoformat(),
        "event": row.event,
        "user_id": row.user_id,
        "client_id": row.client_id,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "data": row.data,
    }


def list_events(call: Call) -> Result:
    size = paging.limit(call)
    after = paging.cursor(call)
    after_id = None
    if after is not None:
        if not (after.isascii() and after.isdigit()):
            raise paging.bad_cursor()
        after_id = int(after)
    user_ref = _text(call, "user")
    user_id = None
    if user_ref is not None:
        user = call.svc.store.get_user(user_ref) or call.svc.store.find_user(user_ref)
        # A deleted user's events name a pseudonym: filter by it as given.
        user_id = user.id if user is not None else user_ref
    since, until = _time(call, "since"), _time(call, "until")
    if since is not None and until is not None and until <= since:
        raise Problem(400, "invalid-parameter", "until must be after since", field="until")
    rows = call.svc.store.list_audit_events(
        user_id=user_id,
        client_id=_text(call, "client"),
        event=_text(call, "event"),
        since=since,
        until=until,
        after_id=after_id,
        limit=size + 1,
    )
    shown = list(rows[:size])
    return paging.page(call, rows, [_event(e) for e in shown], size, str(shown[-1].id) if shown else None)


ROUTES: list[Route] = [
    operation("GET", "/keys", ADMIN_READ, list_keys),
    operation("POST", "/keys", ADMIN_WRITE, rotate_key),
    operation("POST", "/keys/{kid}/retire", ADMIN_WRITE, retire_key),
    operation("GET", "/audit-events", ADMIN_READ, list_events),
]
