"""Browser-like helpers for the hosted pages (sign-in, /mfa, the account page), shared by the HTTP and
CLI tests: a second browser on another address, the authenticator app, walking the pages, enrolling
TOTP, reading alerts and notices."""

from __future__ import annotations

import html
import itertools
import re
import time
from urllib.parse import urlsplit

import pyotp
from starlette.testclient import TestClient

from tests.helpers import (
    PASSWORD,
    authorize,
    authorize_params,
    exchange,
    follow,
    forms,
    jwt_parts,
    pkce_pair,
    query,
    submit,
)

ISSUER = "http://testserver"
REDIRECT = "https://app.example/cb"
SESSION = "as_session"
CSRF = "as_csrf"
DEVICE_COOKIE = "as_device"
ACR_MFA = "urn:authserver:loa:2"
ACR_PASSWORD = "urn:authserver:loa:1"
GENERIC = "Incorrect username or password."
WRONG_CODE = "That code is not right."
SIGN_IN_CLIENT = ("--grant-type", "authorization_code", "--grant-type", "refresh_token", "--redirect-uri", REDIRECT)
SECRET_RE = re.compile(r'<code class="secret">([^<]*)</code>')


def create_user(
    cli,
    username: str = "alice",
    password: str = PASSWORD,  # type: ignore[no-untyped-def]
    email: str | None = None,
) -> dict:
    result = cli(
        "user",
        "create",
        "--username",
        username,
        "--email",
        email or f"{username}@example.com",
        "--password-stdin",
        "--json",
        stdin=password + "\n",
    )
    assert result.code == 0, result.err
    return result.json()


def browser_from(http: TestClient, host: str = "testclient") -> TestClient:
    """Another browser (own cookie jar), optionally on another IP address, talking to the same running app."""
    other = TestClient(http.app, base_url=ISSUER, client=(host, 50000))
    other.app_state.update(http.app_state)  # share the started services (same cache and database)
    return other


class Authenticator:
    """What the phone app does with the secret: a code per 30-second step, each step used at most once.

    The server accepts the previous, current and next step (clock drift) and never a step that is not
    newer than the last one it accepted, so up to three codes are available without waiting.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret.replace(" ", "")
        self.totp = pyotp.TOTP(self.secret)
        self.last_step: int | None = None
        self.issued: list[str] = []

    def code(self) -> str:
        while True:
            now = time.time()
            current = int(now // 30)
            # The previous step only while it stays inside the server's window for a while yet.
            steps = ([current - 1] if now % 30 < 27 else []) + [current, current + 1]
            for step in steps:
                if self.last_step is None or step > self.last_step:
                    self.last_step = step
                    code = self.totp.at(step * 30)
                    self.issued.append(code)
                    return code
            time.sleep(30 - now % 30 + 0.1)

    def wrong(self) -> str:
        """Six digits that are not the code of any step near now."""
        current = int(time.time() // 30)
        near = {self.totp.at((current + d) * 30) for d in range(-3, 4)}
        return next(c for c in (f"{i:06d}" for i in itertools.count(123456, 7919)) if c not in near)


def alert(page) -> str | None:  # type: ignore[no-untyped-def]
    """The text of the page's error message (as read: without the link to the field it is about)."""
    found = re.search(r'<p class="alert"[^>]*>(.*?)</p>', page.text, re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1)).strip()) if found else None


def notice(page) -> str | None:  # type: ignore[no-untyped-def]
    found = re.search(r'<p class="notice"[^>]*>(.*?)</p>', page.text, re.DOTALL)
    return html.unescape(found.group(1).strip()) if found else None


def set_cookie_names(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.split("=", 1)[0].strip() for h in response.headers.get_list("set-cookie")]


def assert_page_headers(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert "no-store" in response.headers["cache-control"]


def walk(
    http: TestClient,
    response,
    *,
    username: str = "alice",
    password: str = PASSWORD,  # type: ignore[no-untyped-def]
    code=None,
    consent: str = "allow",
):
    """Follow the hosted pages (/login, /mfa, /consent) from a redirect like a person would.

    `code` is a string or a callable giving the second-factor code. Returns (the first response that is
    not a redirect to one of those pages, the pages seen in order)."""
    seen: list[str] = []
    while response.status_code in (302, 303):
        target = urlsplit(response.headers["location"])
        if target.netloc not in ("", "testserver") or target.path not in ("/login", "/mfa", "/consent"):
            break
        step = target.path.strip("/")
        seen.append(step)
        assert len(seen) < 8, seen
        page = follow(http, response)
        assert page.status_code == 200, page.text
        if step == "login":
            response = submit(http, page, username=username, password=password)
        elif step == "mfa":
            assert code is not None, f"unexpected second-factor step after {seen}"
            response = submit(http, page, code=code() if callable(code) else code)
        else:
            response = submit(http, page, decision=consent)
    return response, seen


def start(http: TestClient, client: dict, **extra: str):  # type: ignore[no-untyped-def]
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, **extra)
    return authorize(http, params), verifier, params


def sign_in_to(
    http: TestClient,
    client: dict,
    *,
    username: str = "alice",
    password: str = PASSWORD,  # type: ignore[no-untyped-def]
    code=None,
    **extra: str,
) -> tuple[dict, str, list[str]]:
    """authorize -> hosted pages -> back at the client with a code: (callback query, verifier, pages seen)."""
    response, verifier, params = start(http, client, **extra)
    final, seen = walk(http, response, username=username, password=password, code=code)
    assert final.status_code in (302, 303), (seen, final.status_code, final.text)
    assert final.headers["location"].startswith(client["redirect_uris"][0])
    callback = query(final.headers["location"])
    assert callback.get("state") == params["state"]
    assert "code" in callback, callback
    return callback, verifier, seen


def tokens(http: TestClient, client: dict, callback: dict, verifier: str) -> dict:
    response = exchange(http, client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()


def id_claims(http: TestClient, client: dict, callback: dict, verifier: str) -> dict:
    return jwt_parts(tokens(http, client, callback, verifier)["id_token"])[1]


def reauthenticate(
    http: TestClient,
    *,
    password: str = PASSWORD,
    code: str | None = None,  # type: ignore[no-untyped-def]
    back_to: str = "/account",
):
    """Confirm it's you on /account/reauth (sudo mode); returns the response to the form."""
    page = http.get("/account/reauth?next=" + back_to, follow_redirects=False)
    assert page.status_code == 200, page.text
    values = {"password": password, **({"code": code} if code is not None else {})}
    return submit(http, page, **values)


def account_sign_in(
    http: TestClient,
    *,
    username: str = "alice",
    password: str = PASSWORD,  # type: ignore[no-untyped-def]
    code=None,
):
    """/account without a session -> /login (-> /mfa) -> back at /account; returns the account page."""
    response = http.get("/account", follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/login?interaction=")
    final, seen = walk(http, response, username=username, password=password, code=code)
    assert final.status_code == 303 and final.headers["location"] == "/account", (seen, final.text)
    page = http.get("/account", follow_redirects=False)
    assert page.status_code == 200, page.text
    return page


def account_csrf(http: TestClient) -> str:
    page = http.get("/account", follow_redirects=False)
    assert page.status_code == 200, page.text
    return forms(page.text)[0]["fields"]["csrf_token"]


def account_post(http: TestClient, action: str, **values: str):  # type: ignore[no-untyped-def]
    """POST one of the account page's forms (with this browser's CSRF token)."""
    return http.post(action, data={"csrf_token": account_csrf(http), **values}, follow_redirects=False)


def open_enrolment(http: TestClient):  # type: ignore[no-untyped-def]
    """Start setting up TOTP (a POST from the account page), then GET the page showing the new secret:
    (that page, the secret as shown)."""
    started = account_post(http, "/account/mfa/totp/start")
    assert started.status_code == 303 and started.headers["location"] == "/account/mfa/totp", started.text
    page = http.get("/account/mfa/totp", follow_redirects=False)
    assert page.status_code == 200, page.text
    found = SECRET_RE.search(page.text)
    assert found, page.text
    return page, found.group(1)


def backup_codes_on(page) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r"<code>([^<]+)</code>", page.text)


def enrol(http: TestClient) -> tuple[Authenticator, list[str]]:
    """Turn on TOTP for the signed-in user: (the authenticator app, the backup codes shown)."""
    page, secret = open_enrolment(http)
    authenticator = Authenticator(secret)
    response = submit(http, page, code=authenticator.code())
    assert response.status_code == 200, response.text
    codes = backup_codes_on(response)
    assert len(codes) == 10, response.text
    return authenticator, codes


def mfa_state(page) -> tuple[bool, int | None]:  # type: ignore[no-untyped-def]
    """(TOTP on?, backup codes left) as the account page shows them."""
    on = '<span class="badge ok">On</span>' in page.text
    left = re.search(r"Backup codes left: <strong>(\d+)</strong>", page.text)
    return on, int(left.group(1)) if left else None


def password_step(
    http: TestClient,
    client: dict,
    *,
    username: str = "alice",  # type: ignore[no-untyped-def]
    password: str = PASSWORD,
    **extra: str,
):
    """authorize -> /login -> password; returns (the /mfa page, verifier, params)."""
    response, verifier, params = start(http, client, **extra)
    assert response.headers["location"].startswith("/login?")
    response = submit(http, follow(http, response), username=username, password=password)
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/mfa?interaction="), response.headers["location"]
    page = follow(http, response)
    assert page.status_code == 200, page.text
    return page, verifier, params


def finish_at_client(http: TestClient, client: dict, response, *, code=None) -> dict:  # type: ignore[no-untyped-def]
    final, _ = walk(http, response, code=code)
    assert final.status_code in (302, 303), final.text
    assert final.headers["location"].startswith(client["redirect_uris"][0]), final.headers["location"]
    return query(final.headers["location"])


def csp(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The Content-Security-Policy header of a page, as {directive: [values]}."""
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives
