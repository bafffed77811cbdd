"""Passkey helpers shared by the HTTP tests: ask the server for WebAuthn options as passkeys.js does, answer
them with the software authenticator, post the result in the page's form, read the account page's list."""

from __future__ import annotations

import html
import json
import re

from starlette.testclient import TestClient

from tests.helpers import PASSWORD, forms
from tests.pages import ISSUER, account_csrf
from tests.softauthn import SoftAuthenticator


def device(**options: object) -> SoftAuthenticator:
    return SoftAuthenticator(ISSUER, **options)  # type: ignore[arg-type]


def ask_options(http: TestClient, purpose: str, *, csrf: str | None = None, interaction: str = "", token: str = ""):  # type: ignore[no-untyped-def]
    """POST /passkeys/options like passkeys.js (the raw response)."""
    data = {"csrf_token": csrf if csrf is not None else account_csrf(http), "purpose": purpose}
    if interaction:
        data["interaction"] = interaction
    if token:
        data["token"] = token
    return http.post("/passkeys/options", data=data, follow_redirects=False)


def options(http: TestClient, purpose: str, **kwargs: str) -> dict:
    response = ask_options(http, purpose, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers["cache-control"]
    return response.json()


def post_new_passkey(http: TestClient, credential: dict, name: str = ""):  # type: ignore[no-untyped-def]
    return http.post(
        "/account/passkeys",
        data={"csrf_token": account_csrf(http), "credential": json.dumps(credential), "name": name},
        follow_redirects=False,
    )


def add_passkey(http: TestClient, authenticator: SoftAuthenticator, name: str = "") -> str:
    """Register a passkey for the signed-in (recently authenticated) user; its credential id."""
    credential = authenticator.create(options(http, "register"))
    response = post_new_passkey(http, credential, name)
    assert response.status_code == 303 and response.headers["location"] == "/account?done=passkey", response.text
    return credential["id"]


def passkeys_on(page) -> list[dict]:  # type: ignore[no-untyped-def]
    """The account page's passkey list: [{id, name, synced, used}]."""
    found = []
    for item in re.findall(r"<li>(.*?)</li>", page.text.split('id="passkey-list"', 1)[-1].split("</ul>", 1)[0], re.S):
        name = re.search(r'<strong class="passkey-name">(.*?)</strong>', item, re.S)
        ident = re.search(r'name="id" value="([^"]+)"', item)
        if name and ident:
            found.append(
                {
                    "id": html.unescape(ident.group(1)),
                    "name": html.unescape(name.group(1)),
                    "synced": ">synced<" in item,
                    "used": "last used" in item,
                }
            )
    return found if 'id="passkey-list"' in page.text else []


def events(http: TestClient, name: str, user_id: str | None = None) -> list[dict]:
    """Audit events of one kind (oldest first), as stored: {user_id, ...data}."""
    store = http.app_state["services"].store
    return [
        {"user_id": e.user_id, "client_id": e.client_id, "ip": e.ip, **e.data}
        for e in store.list_audit_events(user_id=user_id)
        if e.event == name
    ]


def form_named(page, action: str) -> dict:  # type: ignore[no-untyped-def]
    return next(f for f in forms(page.text) if f["action"] == action)


def answer(http: TestClient, page, action: str, purpose: str, authenticator: SoftAuthenticator, **knobs: object):  # type: ignore[no-untyped-def]
    """What passkeys.js does on a page: options for `purpose` with the form's CSRF token (and interaction),
    the authenticator's assertion, then the form posted with it. Returns the form's response."""
    fields = form_named(page, action)["fields"]
    made = options(http, purpose, csrf=fields["csrf_token"], interaction=fields.get("interaction", ""))
    credential = authenticator.get(made, **knobs)  # type: ignore[arg-type]
    return post_assertion(http, page, action, credential)


def post_assertion(http: TestClient, page, action: str, credential: dict, **extra: str):  # type: ignore[no-untyped-def]
    fields = form_named(page, action)["fields"]
    return http.post(action, data={**fields, **extra, "credential": json.dumps(credential)}, follow_redirects=False)


def confirm_with_passkey(http: TestClient, authenticator: SoftAuthenticator) -> None:
    """Sudo mode with the password and a passkey (an account with passkeys has a second factor)."""
    page = http.get("/account/reauth?next=/account", follow_redirects=False)
    assert page.status_code == 200, page.text
    fields = form_named(page, "/account/reauth")["fields"]
    made = options(http, "reauth", csrf=fields["csrf_token"])
    response = post_assertion(http, page, "/account/reauth", authenticator.get(made), password=PASSWORD)
    assert response.status_code == 303, response.text
