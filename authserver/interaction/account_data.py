"""POST /account/export: the account's data as a JSON download (GDPR Art. 15 and 20).

Sudo mode first (a stolen session cookie alone must not carry off someone's data), with the CSRF token.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.interaction.account_gate import ACCOUNT, account_form
from authserver.interaction.events import emit
from authserver.manage.account_data import export_account


async def export(request: Request) -> Response:
    posted = await account_form(request, sudo=ACCOUNT)
    if isinstance(posted, Response):
        return posted
    svc, _, user, _ = posted

    def name(client_id: str) -> str | None:
        client = svc.clients.get(client_id)
        return client.name if client else None

    data = await run_sync(lambda: export_account(svc.store, name, user, now=int(svc.clock())))
    await emit(svc, request, "account.exported", user_id=user.id, by="user")
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False).encode(),
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="account-{user.username}.json"',
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )
