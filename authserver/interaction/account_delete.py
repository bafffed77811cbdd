"""POST /account/delete: the user deletes their own account (sudo mode and a typed confirmation)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.i18n import N_, Message
from authserver.interaction.account import _page
from authserver.interaction.account_gate import ACCOUNT, account_form
from authserver.interaction.events import emit
from authserver.interaction.sessions import clear_session_cookie, end_session_sync
from authserver.manage.deletion import Deletion, delete_account


async def delete(request: Request) -> Response:
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, session, user, form = posted
    if form.get("confirm", "").strip().lower() != user.username:
        error = Message(
            N_("To delete your account, type your username (%(username)s) in the box."), username=user.username
        )
        return await _page(svc, request, session, user, error=error, field="confirm", status=400)
    farewell = svc.mail.compose("account_deleted", user.email, name=user.name or user.username, username=user.username)

    def apply() -> tuple[int, Deletion | None]:
        # Each session is ended the usual way first (its events, its grants), then the rest goes at once.
        sessions = svc.store.list_user_sessions(user.id)
        for each in sessions:
            end_session_sync(svc, each, reason="account_deleted")
        return len(sessions), delete_account(
            svc.store,
            user,
            server_secret=svc.settings.secret_bytes(),
            deny_grants=lambda grants: svc.server.tokens.deny_grants(grants, reason="account_deleted"),
            farewell=[farewell],
            now=int(svc.clock()),
        )

    ended, done = await run_sync(apply)
    if done is not None:
        svc.outbox.wake()
        await emit(
            svc,
            request,
            "user.deleted",
            user_id=done.pseudonym,
            by="user",
            sessions_ended=ended + done.sessions_ended,
            grants_revoked=done.grants_revoked,
        )
    response = svc.pages.render("account_deleted.html", {})
    clear_session_cookie(response, svc)
    return response
