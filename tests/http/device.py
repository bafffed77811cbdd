"""The device flow (RFC 8628) driven like a device and a browser: start, poll, enter the code, confirm.
Shared by the device-flow tests."""

from __future__ import annotations

from tests.helpers import PASSWORD, basic, follow, submit
from tests.helpers import create_user as create_user  # the test modules take it from here too

ISSUER = "http://testserver"


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


WRONG_CODE = "That code is not valid or has expired. Check the code on your device and try again."


TOO_MANY = "Too many wrong codes"


POLL = 1.1  # a little more than device_poll_interval=1


def start(http, client: dict, **form: str) -> dict:  # type: ignore[no-untyped-def]
    response = device_request(http, client, **form)
    assert response.status_code == 200, response.text
    return response.json()


def poll(http, client: dict, device_code: str | None, **extra: str):  # type: ignore[no-untyped-def]
    data = {"grant_type": DEVICE_GRANT, **extra}
    if device_code is not None:
        data["device_code"] = device_code
    headers = client_auth(client, data)
    return http.post("/token", data=data, headers=headers)


def assert_oauth_error(response, error: str, status: int = 400) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    return body


def enter_code(http, user_code: str):  # type: ignore[no-untyped-def]
    """GET /device, then submit `user_code` with the page's CSRF token."""
    page = http.get("/device")
    assert page.status_code == 200, page.text
    return submit(http, page, user_code=user_code)


def log_in(http, response, username: str = "alice", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/login?interaction="), response.headers["location"]
    page = follow(http, response)
    assert page.status_code == 200, page.text
    return submit(http, page, username=username, password=password)


def confirm_page(http, response):  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/device/confirm?interaction="), location
    page = follow(http, response)
    assert page.status_code == 200, page.text
    return page


def reach_confirm(http, user_code: str):  # type: ignore[no-untyped-def]
    """Enter the code and sign in if needed; return the confirmation page."""
    response = enter_code(http, user_code)
    if response.headers.get("location", "").startswith("/login"):
        response = log_in(http, response)
    return confirm_page(http, response)


def decide(http, user_code: str, decision: str = "allow"):  # type: ignore[no-untyped-def]
    page = reach_confirm(http, user_code)
    done = submit(http, page, decision=decision)
    assert done.status_code == 200, done.text
    return done


def sign_in_browser(http, client: dict) -> None:  # type: ignore[no-untyped-def]
    """Give this browser a session by signing in through a device approval left undecided."""
    reach_confirm(http, start(http, client)["user_code"])


def client_auth(client: dict, data: dict) -> dict:
    if client.get("client_secret"):
        return basic(client["client_id"], client["client_secret"])
    data["client_id"] = client["client_id"]
    return {}


def device_request(http, client: dict, **form: str):  # type: ignore[no-untyped-def]
    data = dict(form)
    headers = client_auth(client, data)
    return http.post("/device_authorization", data=data, headers=headers)
