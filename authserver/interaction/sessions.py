"""The browser session: a random cookie naming a server-side record (no fixation, idle + absolute limits)."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import Authentication, BrowserSession
from authserver.security.secrets import token_hash
from authserver.services import Services
from authserver.web.cookies import clear_cookie, cookie_name, set_cookie

SESSION = "as_session"
TOUCH_EVERY = 60


def _lookup(svc: Services, value: str) -> BrowserSession | None:
    store, settings = svc.store, svc.settings
    session = store.get_session(token_hash(value))
    if session is None:
        return None
    now = int(svc.clock())
    if session.expires_at <= now or now - session.last_seen_at > settings.session_idle_ttl:
        end_session_sync(svc, session, reason="expired")
        return None
    user = store.get_user(session.user_id)
    if user is None or user.disabled:
        end_session_sync(svc, session, reason="user_disabled")
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        store.touch_session(session.id_hash, now)
    return session


async def current_session(request: Request, svc: Services) -> BrowserSession | None:
    value = request.cookies.get(cookie_name(svc.settings, SESSION))
    if not value or len(value) > 100:
        return None
    return await run_sync(_lookup, svc, value)


def start_session_sync(svc: Services, auth: Authentication, previous_cookie: str | None) -> tuple[str, BrowserSession]:
    """A new session id at every sign-in, so a planted cookie is worthless (session fixation)."""
    sid = secrets.token_urlsafe(16)
    if previous_cookie:
        old = svc.store.delete_session(token_hash(previous_cookie))
        if old is not None and old.user_id != auth.user_id:
            end_grants(svc, old)
        elif old is not None:
            # The same user re-authenticating (prompt=login, max_age): a new cookie, but the same
            # logical session, so its session-bound refresh tokens and `sid` carry on.
            sid = old.sid
    now = int(svc.clock())
    value = secrets.token_urlsafe(32)
    session = BrowserSession(
        id_hash=token_hash(value),
        sid=sid,
        user_id=auth.user_id,
        auth_time=auth.auth_time,
        amr=auth.amr,
        acr=auth.acr,
        created_at=now,
        last_seen_at=now,
        expires_at=now + svc.settings.session_ttl,
        upstream=auth.upstream,
    )
    svc.store.add_session(session)
    svc.events.emit("session.started", user_id=auth.user_id, sid=session.sid, amr=list(auth.amr))
    return value, session


def end_grants(svc: Services, session: BrowserSession) -> None:
    for grant_id in svc.store.revoke_session_grants(session.sid, int(svc.clock())):
        svc.server.tokens.revoke_grant(grant_id, reason="session_ended")


def end_session_sync(svc: Services, session: BrowserSession, *, reason: str) -> None:
    """Delete the session and revoke the refresh tokens bound to it (all but offline_access ones)."""
    svc.store.delete_session(session.id_hash)
    end_grants(svc, session)
    svc.backchannel.session_ended(session)
    svc.events.emit("session.ended", user_id=session.user_id, sid=session.sid, reason=reason)


def set_session_cookie(response: Response, svc: Services, value: str) -> None:
    set_cookie(response, svc.settings, SESSION, value, svc.settings.session_ttl)


def clear_session_cookie(response: Response, svc: Services) -> None:
    clear_cookie(response, svc.settings, SESSION)
