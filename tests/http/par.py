"""Pushed authorization requests (RFC 9126) driven through HTTP: push, then /authorize with the request_uri.
Shared by the PAR and JAR tests."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.helpers import PASSWORD, basic, follow, query, submit

REDIRECT = "https://app.example/cb"


PREFIX = "urn:ietf:params:oauth:request_uri:"


SIGN_IN = ("--grant-type", "authorization_code", "--redirect-uri", REDIRECT)


def push(http, client: dict, params: dict, *, auth: bool = True):  # type: ignore[no-untyped-def]
    data = dict(params)
    headers = {}
    if client.get("client_secret") and auth:
        headers = basic(client["client_id"], client["client_secret"])
        data.pop("client_id", None)
    else:
        data["client_id"] = client["client_id"]
    return http.post("/par", data=data, headers=headers)


def authorize_uri(http, client_id: str, request_uri: str, **extra: str):  # type: ignore[no-untyped-def]
    query_params = {"client_id": client_id, "request_uri": request_uri, **extra}
    return http.get("/authorize?" + urlencode(query_params), follow_redirects=False)


def finish(http, response) -> dict:  # type: ignore[no-untyped-def]
    """Sign in and consent from an /authorize response; the callback's query."""
    if response.headers.get("location", "").startswith("/login"):
        response = submit(http, follow(http, response), username="alice", password=PASSWORD)
    if response.headers.get("location", "").startswith("/consent"):
        response = submit(http, follow(http, response), decision="allow")
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"].startswith(REDIRECT)
    return query(response.headers["location"])


def error_page(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    return response.text
