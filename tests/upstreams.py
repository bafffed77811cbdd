"""Helpers for the upstream sign-in tests: playing the browser through "Continue with ..." and back, and a
second authserver process as the upstream identity provider."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from authserver.cli import main as cli_main
from tests import server
from tests.fake_idp import FakeIdP
from tests.helpers import PASSWORD, authorize, authorize_params, exchange, follow, forms, jwt_parts, pkce_pair, query

REDIRECT = "https://app.example/cb"
SECRET = "upstream-client-secret-0123456789"


def add_upstream(cli, idp: FakeIdP, *extra: str, name: str = "corp") -> dict:  # type: ignore[no-untyped-def]
    result = cli(
        "upstream", "add", "--name", name, "--display-name", "Corp", "--issuer", idp.issuer,
        "--client-id", "our-client", "--client-secret-stdin", "--json", *extra, stdin=SECRET + "\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    return result.json()


def login_page(http, app: dict):  # type: ignore[no-untyped-def]
    verifier, challenge = pkce_pair()
    params = authorize_params(app, challenge)
    page = follow(http, authorize(http, params))
    assert page.status_code == 200
    return page, verifier, params


def leave_for(http, page, name: str = "corp") -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Press "Continue with ..." and return the authorization request sent to the upstream."""
    form = next(f for f in forms(page.text) if f["action"] == "/login/upstream")
    response = http.post("/login/upstream", data={**form["fields"], "upstream": name}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return {"url": response.headers["location"], **query(response.headers["location"])}


def come_back(http, name: str = "corp", **params: str):  # type: ignore[no-untyped-def]
    return http.get(f"/login/upstream/{name}/callback?" + urlencode(params), follow_redirects=False)


def start(http, app: dict, name: str = "corp") -> tuple[dict[str, str], str, dict]:  # type: ignore[no-untyped-def]
    page, verifier, params = login_page(http, app)
    return leave_for(http, page, name), verifier, params


def audit(cli, event: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e for e in cli("audit", "list", "--json").json() if e["event"] == event]


def to_app(response) -> str:  # type: ignore[no-untyped-def]
    """Where our answer sends the browser next: a redirect, or (leaving the upstream's redirect chain for
    another site) a page that goes on by itself with a Refresh header."""
    if response.status_code == 200 and "refresh" in response.headers:
        location = response.headers["refresh"].split("url=", 1)[1]
        assert f'href="{location.replace("&", "&amp;")}"' in response.text  # the link for the person too
        return location
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


def signed_in_tokens(http, app: dict, response, verifier: str, params: dict) -> dict:  # type: ignore[no-untyped-def]
    location = to_app(response)
    assert location.startswith(REDIRECT), location
    back = query(location)
    assert back["state"] == params["state"]
    tokens = exchange(http, app, back["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    return jwt_parts(tokens.json()["id_token"])[1]


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def refused_as_expired(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400
    assert "expired or was already used" in response.text


def refused_on_login_page(response, text: str = "could not sign you in") -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert text in response.text
    assert 'name="password"' in response.text  # the local login stays usable


def idp_claims(idp: FakeIdP, nonce: str) -> dict:
    now = int(time.time())
    return {"iss": idp.issuer, "sub": "u-1", "aud": "our-client", "iat": now, "exp": now + 300, "nonce": nonce}


class Stopped:
    def shutdown(self) -> None:
        pass

    def server_close(self) -> None:
        pass


def account_sign_in(http, app, idp, email="carol@example.com"):  # type: ignore[no-untyped-def]
    sent, verifier, params = start(http, app)
    idp.answer_with(nonce=sent["nonce"], email=email, email_verified=True)
    return signed_in_tokens(http, app, come_back(http, code="c", state=sent["state"]), verifier, params)


def account_forms(http) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    page = http.get("/account")
    assert page.status_code == 200
    return {f["action"]: f for f in forms(page.text)}, page


# Our issuer in these tests: a loopback name, since the upstream accepts plain-http redirect URIs only there.
OURS = "http://localhost:8765"
CALLBACK = f"{OURS}/login/upstream/corp/callback"


class Upstream:
    """A running authserver process with its own SQLite database, CLI bound to it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {
            "AUTHSERVER_ENV": "development",
            "AUTHSERVER_DATABASE_URL": f"sqlite:///{workdir / 'upstream.db'}",
            "AUTHSERVER_SECRET_KEY": "upstream-secret-key-that-is-long-enough-987654",
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_CACHE_PREFIX": f"upstream-test:{uuid.uuid4().hex}:",
            "AUTHSERVER_CLIENT_CACHE_SECONDS": "0",
            "AUTHSERVER_RATE_LIMIT_LOGIN_IP": "100000/minute",
            "AUTHSERVER_RATE_LIMIT_LOGIN_ACCOUNT": "100000/minute",
            "AUTHSERVER_RATE_LIMIT_TOKEN_IP": "20000/minute",
        }
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.client: dict = {}

    def cli(self, *args: str, stdin: str = "") -> str:
        """`authserver ARGS` against the upstream's database, run in this process (a new Python process per
        command costs seconds on a loaded machine), with the upstream's environment only."""
        saved = {k: v for k, v in os.environ.items() if k.startswith("AUTHSERVER_")}
        for key in saved:
            del os.environ[key]
        os.environ.update({**self.env, "AUTHSERVER_ISSUER": self.base or "http://127.0.0.1"})
        out, real_in, real_out = io.StringIO(), sys.stdin, sys.stdout
        sys.stdin, sys.stdout = io.StringIO(stdin), out
        try:
            code = cli_main(list(args))
        finally:
            sys.stdin, sys.stdout = real_in, real_out
            for key in [k for k in os.environ if k.startswith("AUTHSERVER_")]:
                del os.environ[key]
            os.environ.update(saved)
        assert code == 0, out.getvalue()
        return out.getvalue()

    def start(self) -> Upstream:
        self.cli("migrate")
        clean = {k: "" for k in os.environ if k.startswith("AUTHSERVER_")}
        self.proc, self.base = server.start({**clean, **self.env}, self.workdir, host="127.0.0.1")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            server.stop(self.proc)


def provider(workdir: Path, callback: str = CALLBACK) -> Upstream:
    """A started upstream with bob (address verified), mallory (alice's address here, not verified) and us
    registered as a first-party client."""
    upstream = Upstream(workdir).start()
    upstream.cli(
        "user", "create", "--username", "bob", "--email", "bob@corp.example", "--name", "Bob",
        "--email-verified", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    upstream.cli(
        "user", "create", "--username", "mallory", "--email", "alice@example.com", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    created = upstream.cli(
        "client", "create", "--name", "Our authserver", "--grant-type", "authorization_code",
        "--redirect-uri", callback, "--first-party", "--json",
    )  # fmt: skip
    upstream.client = json.loads(created)
    return upstream
