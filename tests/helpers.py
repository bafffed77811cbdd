"""Small helpers for tests that speak HTTP like a client would."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, ClassVar
from urllib.parse import quote

from starlette.testclient import TestClient

from authserver.oauth.keys import generate_rsa


class MovableClock:
    """The app's clock in tests (create_app(clock=...), and the CLI's, cli_main(clock=...)): real time plus an
    offset the test moves, so expiry is tested by moving the clock, never by sleeping. Every expiry and "now"
    decision of the app reads it, and so do the in-process cache's TTLs (Redis keeps real time)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen: float | None = None

    def __call__(self) -> float:
        return self.frozen if self.frozen is not None else time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock (back too, with a negative number); a frozen clock stays frozen, moved."""
        if self.frozen is not None:
            self.frozen += seconds
        else:
            self.offset += seconds

    def freeze(self, at: float) -> None:
        """Stop the clock at `at` (until the end of the test)."""
        self.frozen = at


class KeyPool:
    """The signing keys the apps of a test start with (create_app(key_generator=...)): RSA key pairs made
    once per test process and handed out again in every test, in the same order (each test's app starts
    on an emptied store, and generating a 2048-bit key costs ~0.1 s). Within one test every key is new.
    `authserver serve` processes and the CLI's `keys rotate` still generate their own."""

    _made: ClassVar[dict[int, list[tuple[str, dict[str, Any], bytes]]]] = {}

    def __init__(self) -> None:
        self.used: dict[int, int] = {}

    def __call__(self, bits: int) -> tuple[str, dict[str, Any], bytes]:
        made = self._made.setdefault(bits, [])
        index = self.used.get(bits, 0)
        self.used[bits] = index + 1
        if index == len(made):
            made.append(generate_rsa(bits))
        return made[index]


def basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 §2.3.1: each part is form-urlencoded before base64.
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def client_token(http: TestClient, client: dict, **form: str) -> dict:
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def jwt_parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")

    def decode(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    return decode(header), decode(payload)


# --- browser-like helpers for the sign-in flow -------------------------------------------------

import hashlib  # noqa: E402
import secrets  # noqa: E402
from html.parser import HTMLParser  # noqa: E402
from urllib.parse import parse_qs, urlencode, urlsplit  # noqa: E402

PASSWORD = "correct horse battery staple"


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""
            self.forms[-1].setdefault("inputs", {})[a["name"]] = a
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value")))


def forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(client: dict, challenge: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def authorize(http: TestClient, params: dict[str, str]):  # type: ignore[no-untyped-def]
    return http.get("/authorize?" + urlencode(params), follow_redirects=False)


def submit(http: TestClient, page, **values: str):  # type: ignore[no-untyped-def]
    """Submit the first form of an HTML response with its hidden fields plus `values`."""
    form = forms(page.text)[0]
    data = {**form["fields"], **values}
    return http.post(form["action"], data=data, follow_redirects=False)


def follow(http: TestClient, response):  # type: ignore[no-untyped-def]
    assert response.status_code in (302, 303), response.text
    return http.get(response.headers["location"], follow_redirects=False)


def sign_in(
    http: TestClient,
    client: dict,
    username: str = "alice",
    password: str = PASSWORD,
    *,
    consent: str | None = "allow",
    **extra: str,
) -> tuple[dict, str, dict]:
    """Walk authorize -> login -> consent as a browser; return (callback query, verifier, params)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, **extra)
    response = authorize(http, params)
    if response.headers.get("location", "").startswith("/login"):
        page = follow(http, response)
        response = submit(http, page, username=username, password=password)
    if response.headers.get("location", "").startswith("/consent"):
        page = follow(http, response)
        response = submit(http, page, decision=consent)
    assert response.status_code in (302, 303), response.text
    return query(response.headers["location"]), verifier, params


def exchange(http: TestClient, client: dict, code: str, verifier: str, redirect_uri: str | None = None, **extra):  # type: ignore[no-untyped-def]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri or client["redirect_uris"][0],
        **extra,
    }
    headers = {}
    if client.get("client_secret"):
        headers = basic(client["client_id"], client["client_secret"])
    else:
        data["client_id"] = client["client_id"]
    return http.post("/token", data=data, headers=headers)


def create_user(cli, username: str, password: str = PASSWORD) -> dict:  # type: ignore[no-untyped-def]
    """A user through the CLI (email USERNAME@example.com, name Username); its JSON."""
    result = cli(
        "user",
        "create",
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--name",
        username.title(),
        "--password-stdin",
        "--json",
        stdin=password + "\n",
    )
    assert result.code == 0, result.err
    return result.json()
