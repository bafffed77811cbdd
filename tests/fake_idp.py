"""A scriptable OpenID Connect / OAuth 2.0 provider on a real socket, for the unhappy paths a real one will
not produce: bad signatures, wrong iss/aud/nonce, expired tokens, rotated keys, garbage and errors.

The test plays the browser: it reads state and nonce from the authorization URL we redirect to, and
calls our callback itself; the provider's token endpoint answers what `tokens` returns.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class FakeIdP:
    def __init__(self, *, iss_parameter: bool = False) -> None:
        self.keys = [new_key("k1")]
        self.iss_parameter = iss_parameter
        self.token_requests: list[tuple[dict[str, str], dict[str, str]]] = []
        self.jwks_fetches = 0
        # What /token answers: (status, JSON-able body or raw bytes); set per test.
        self.tokens: Callable[[dict[str, str]], tuple[int, Any]] = lambda form: (500, {"error": "not scripted"})
        self.userinfo: dict[str, Any] = {}
        self.emails: list[dict[str, Any]] = []
        # Its login page, for a real browser: the query of our authorization request -> where its one link
        # sends the browser back (our callback with a code or an error); None: no login page (404).
        self.login: Callable[[dict[str, str]], str] | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return self.base

    def start(self) -> FakeIdP:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.base + "/authorize",
            "token_endpoint": self.base + "/token",
            "userinfo_endpoint": self.base + "/userinfo",
            "jwks_uri": self.base + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "authorization_response_iss_parameter_supported": self.iss_parameter,
        }

    def id_token(self, key: RSAKey | None = None, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        body = {"iss": self.issuer, "sub": "u-1", "aud": "our-client", "iat": now, "exp": now + 300, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        head = {"alg": "RS256", "kid": key.kid, **(header or {})}
        return jwt.encode(head, body, key)

    def answer_with(self, **claims: Any) -> None:
        """The token endpoint answers an ID token with these claims (nonce etc. given by the test)."""
        self.tokens = lambda form: (
            200,
            {"access_token": "at", "token_type": "Bearer", "id_token": self.id_token(**claims)},
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/.well-known/openid-configuration":
                    self._send(200, idp.discovery())
                elif path == "/jwks":
                    idp.jwks_fetches += 1
                    self._send(200, KeySet(idp.keys).as_dict(private=False))
                elif path == "/userinfo":
                    self._send(200 if self.headers.get("Authorization") == "Bearer at" else 401, idp.userinfo)
                elif path == "/emails":
                    self._send(200, idp.emails)
                elif path == "/authorize" and idp.login is not None:
                    query = {k: v[0] for k, v in parse_qs(self.path.partition("?")[2]).items()}
                    back = html.escape(idp.login(query))
                    page = f'<!doctype html><title>Corp</title><a id="back" href="{back}">Back</a>'.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                idp.token_requests.append((form, dict(self.headers)))
                status, body = idp.tokens(form)
                self._send(status, body)

        return Handler
