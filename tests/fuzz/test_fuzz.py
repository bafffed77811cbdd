"""Schema-driven fuzzing of every operation in docs/openapi.yaml (issue item 7).

For each operation the document describes, hypothesis draws requests that start from a valid-ish
one — a real registered client, real codes, tokens, sessions, CSRF tokens and pending sign-ins, so
the fuzzer gets past the first checks — and then breaks it: hostile values (NUL and control
characters, unicode, very long strings, numbers, deeply nested JSON, SQL/template/path strings),
dropped, duplicated, unknown and wrongly-typed parameters, invalid percent-encoding and non-UTF-8
bytes, JSON, multipart and text bodies where forms are expected, missing or wrong content types,
hostile credentials, cookies and headers, and wrong methods.

Every response must be below 500 and must not leak internals (tracebacks, source paths, SQL or
driver names). Separately, every POST operation answers 413 to a body one byte over the configured
limit (declared or chunked) and not to a body at the limit.

The requests go through the in-process TestClient with raise_server_exceptions=False, so a server
exception is observed as the 500 a real client would get. derandomize=True makes every run draw the
same examples. The bugs it found are pinned by regression tests at the end of this module; a bug that
cannot be fixed at once can be tolerated for its exact trigger (KNOWN_BUGS) with a strict-xfail test.

Knobs: FUZZ_EXAMPLES=400 draws more examples per operation (CI: 40); FUZZ_STRICT=1 tolerates no known
bug; FUZZ_STATS=1 (with -s) prints what each operation answered, FUZZ_STATS=2 every request too.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import string
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from urllib.parse import quote, quote_plus, unquote_plus, urlencode

import pyotp
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.testclient import TestClient

from authserver.app import create_app
from authserver.cli import main as cli_main
from authserver.domain import ACR_MFA, ACR_PASSWORD, Authentication
from authserver.interaction.credentials import totp_sealer
from authserver.interaction.sessions import start_session_sync
from authserver.security import backup_codes
from authserver.settings import Settings
from tests.conftest import ISSUER, REDIS_URL, SECRET, _empty_tables
from tests.fuzz import spec
from tests.helpers import PASSWORD, basic, pkce_pair, query

pytestmark = pytest.mark.slow

# FUZZ_EXAMPLES=400 for a deeper (slower) run; CI uses the default.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
BODY_LIMIT = 2048
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API = "https://api.example.com"

# Limits raised so that the fuzzer keeps reaching the code behind them (they have their own tests).
OVERRIDES: dict[str, object] = {
    "login_max_failures": 100,
    "login_ip_max_failures": 10000,
    "mfa_max_attempts": 20,
    "device_guess_limit": 1000,
    "device_codes_per_minute": 100000,
    "rate_limit_token": "100000/minute",
    "rate_limit_introspect": "100000/minute",
    "rate_limit_revoke": "100000/minute",
    "rate_limit_login_ip": "100000/minute",
    "rate_limit_login_account": "100000/minute",
    "rate_limit_device_entry_ip": "100000/minute",
    "metrics_token": "fuzz-metrics-token",
    "signup": "open",
    "password_reset": True,
    "rate_limit_signup_ip": "100000/minute",
    "rate_limit_mail_address": "100000/minute",
    "rate_limit_mail_ip": "100000/minute",
}


def make_settings(**extra: object) -> Settings:
    known = Settings.model_fields
    return Settings(**{k: v for k, v in {**OVERRIDES, **extra}.items() if k in known})  # type: ignore[arg-type]


# --- what a response must never contain -------------------------------------------------------------

# Compared case-sensitively / case-insensitively; a marker the request itself carried may be echoed.
LEAKS_EXACT = (
    "Traceback",
    'File "',
    "SELECT ",
    "INSERT INTO",
    "UPDATE ",
    "DELETE FROM",
    "[SQL:",
    "RecursionError",
    "IntegrityError",
    "OperationalError",
    "DataError",
    "KeyError",
    "TypeError",
    "AttributeError",
    "AssertionError",
    "UnicodeDecodeError",
    "ValidationError",
)
LEAKS_ANY_CASE = (
    "/work/",
    "site-packages",
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    '.py"',
    ".py,",
    "authserver/",
    "redis.exceptions",
    "jinja2.exceptions",
    "starlette/",
)
_FRAME = re.compile(r"line \d+, in ")  # a traceback frame


def leaks(body: str, sent: str) -> list[str]:
    found = [m for m in LEAKS_EXACT if m in body and m not in sent]
    low_body, low_sent = body.lower(), sent.lower()
    found += [m for m in LEAKS_ANY_CASE if m.lower() in low_body and m.lower() not in low_sent]
    if _FRAME.search(body) and not _FRAME.search(sent):
        found.append("traceback frame")
    for root in {str(Path(__file__).resolve().parents[2]), sys.prefix}:
        if root in body and root not in sent:
            found.append(root)
    return found


# --- known bugs ---------------------------------------------------------------------------------------
#
# A bug the fuzzer finds and that cannot be fixed at once goes here as (operationIds, predicate on the
# Built request, reason), together with a strict-xfail regression test: the fuzzer then tolerates a 500
# for that exact trigger only and keeps looking for new bugs. Empty: BUG-1..4 found by this module
# (see the regression tests at the end) are fixed.

KNOWN_BUGS: list[tuple[frozenset[str], Callable[[Built], bool], str]] = []


def known_bug(operation_id: str, built: Built) -> str | None:
    if os.environ.get("FUZZ_STRICT"):  # FUZZ_STRICT=1: tolerate nothing
        return None
    for operations, matches, reason in KNOWN_BUGS:
        if operation_id in operations and matches(built):
            return reason
    return None


# --- hostile values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Bytes put into a query string or form body as they are (no percent-encoding)."""

    data: bytes


@dataclass(frozen=True)
class Lazy:
    """A real value made when the request is built: a code, a token, a pending sign-in..."""

    kind: str


def _seg(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


DEEP_ARRAY = "[" * 3000
DEEP_OBJECT = '{"a":' * 1500
DEEP_JWT_PAYLOAD = _seg(b'{"alg":"RS256","kid":"k"}') + "." + _seg(b"[" * 3000) + "." + _seg(b"sig")
DEEP_JWT_HEADER = _seg(b"[" * 3000) + "." + _seg(b"{}") + "." + _seg(b"sig")
NONE_JWT = _seg(b'{"alg":"none","typ":"JWT"}') + "." + _seg(b'{"sub":"x","iss":"http://testserver"}') + "."


def _unsigned(header: dict, claims: object) -> str:
    return _seg(json.dumps(header).encode()) + "." + _seg(json.dumps(claims).encode()) + "." + _seg(b"sig")


# JWT-shaped values whose claims are hostile: they reach code that reads claims before verifying.
HOSTILE_JWTS = [
    _unsigned({"alg": "RS256", "kid": "k"}, {"sub": "a\x00b", "iss": "a\x00b"}),
    _unsigned({"alg": "RS256", "kid": "k"}, {"sub": 5}),
    _unsigned({"alg": "RS256", "kid": "k"}, {"sub": ["x"]}),
    _unsigned({"alg": "RS256", "kid": "k"}, {"sub": "s" * 5000}),
    _unsigned({"alg": "RS256", "kid": "k"}, ["not", "an", "object"]),
    _unsigned({"alg": "RS256", "kid": "k"}, {"sub": "\ud800"}),
    _unsigned({"alg": "RS256", "kid": "a\x00b", "typ": "at+jwt"}, {"sub": "x"}),
    _unsigned({"alg": "none", "typ": "at+jwt", "kid": "../../etc/passwd"}, {"sub": "x", "jti": "j"}),
    _unsigned({"alg": "HS256", "kid": None, "crit": ["exp"]}, {"sub": "x"}),
    _unsigned({"alg": "RS256", "jku": "http://evil.example/jwks", "x5u": "http://evil.example/c"}, {"sub": "x"}),
    "e30.e30.e30",
    "." * 2,
    "a" * 10 + "." + "b" * 10 + "." + "%%%",
    "\x00.\x00.\x00",
]

HOSTILE_WORDS = [
    "",
    " ",
    "\t",
    "\x00",
    "a\x00b",
    "\r\n",
    "\x7f",
    "\x1b[31m",
    "\x08",
    "null",
    "None",
    "true",
    "false",
    "0",
    "-1",
    "1e309",
    "NaN",
    "-0",
    "0x41",
    "18446744073709551616",
    "9" * 400,
    "[]",
    "{}",
    '{"a":1}',
    '"',
    "'",
    "\\",
    "%",
    "%%",
    "%00",
    "%s%s%s%n",
    "{0}",
    "{{7*7}}",
    "${7*7}",
    "' OR '1'='1' --",
    "1; DROP TABLE users",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "file:///etc/passwd",
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    '"><img src=x onerror=alert(1)>',
    "http://evil.example/",
    "https://app.example/cb#frag",
    "https://app.example/cb?x=1",
    "HTTPS://APP.EXAMPLE/CB",
    "https://app.example/cb/../cb",
    "http://127.0.0.1:99999/cb",
    "http://[::1]/cb",
    "http://[::1",
    "http://127.0.0.1:8080/cb",
    "openid openid",
    "OPENID",
    "openid\u00a0profile",
    "S256",
    "plain",
    "s256",
    "code",
    "token",
    "id_token",
    "code id_token",
    "none",
    "none login",
    "login\tconsent",
    "\u202eevil",
    "\ufeff",
    "\u0130",
    "ß",
    "\ufb01",
    "１２３４５６",
    "١٢٣٤٥٦",
    "\U0001f600" * 10,
    "\U0010ffff",
    "e\u0301",
    "a.b.c",
    "..",
    "a..",
    NONE_JWT,
    DEEP_ARRAY,
    DEEP_OBJECT,
    DEEP_JWT_PAYLOAD,
    DEEP_JWT_HEADER,
    *HOSTILE_JWTS,
    DEVICE_GRANT,
    ASSERTION_TYPE,
    "refresh_token",
    "client_credentials",
    "authorization_code",
    "password",
    "implicit",
    "BCDF-GHJK",
    "bcdf ghjk",
    "AAAA-AAAA",
    "BCDF\u2011GHJK",
    "12345-67890",
    "abcde-fghjk",
    "000000",
    "999999",
    "12345",
    "1234567",
    "allow",
    "deny",
    "yes",
    "no",
    "urn:authserver:loa:2",
    '{"userinfo":{"sub":{"value":1}}}',
    '{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}}',
    '{"userinfo":[]}',
    "[1,2,3]",
]
RAW_VALUES = [
    b"%",
    b"%zz",
    b"%f",
    b"%ff",
    b"%c3%28",
    b"%ed%a0%80",
    b"%fe%ff",
    b"+",
    b"%2",
    b"&",
    b"=",
    b"==",
    b"%%41",
    b"%u0041",
    b"%C0%AF",
    b"\xff",
    b"\xc3",
    b";",
    b"a=b=c",
]
LONG = st.builds(
    lambda ch, n: ch * n,
    st.sampled_from(["a", "0", "%", "[", " ", "&", "\u00e9", "\U0001f600", "-"]),
    st.sampled_from([65, 129, 257, 1025, 4097, 8193]),
)
WRONG_TYPES = st.sampled_from(
    [
        "1",
        "0",
        "-5",
        "3.14",
        "true",
        "null",
        "[1,2]",
        '{"a":1}',
        '["openid"]',
        "[]",
        "{}",
        "1e3",
        " 1",
        "1 ",
        "0x10",
        "1_000",
    ]
)
RAW_BINARY = st.binary(min_size=1, max_size=16).map(lambda b: Raw("".join(f"%{x:02X}" for x in b).encode()))
KEY_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "a[]",
            "a[0]",
            "__proto__",
            "constructor",
            "grant_type[]",
            "x" * 300,
            "\u00e9",
            "client_id ",
            "Client_Id",
            "GRANT_TYPE",
            "%",
            "scope\x00",
        ]
    ),
    st.text(min_size=1, max_size=12),
)

SAFE_TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=1, max_size=24)

# Structured hostile values for parameters that carry JSON (the OpenAPI contentMediaType) or JWTs.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)
# Deeply nested JSON: "[" * n still fits the 4096-character limit on authorization parameters at n > 1000.
DEEP = st.builds(
    lambda opener, n: opener * n,
    st.sampled_from(["[", "[", "[", '{"a":', '{"userinfo":']),
    st.one_of(st.integers(1, 4000), st.sampled_from([2, 100, 999, 1000, 1001, 1500, 2000, 4000])),
)
CLAIMS_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "userinfo": st.one_of(
            JSON_VALUES, st.dictionaries(st.sampled_from(["sub", "email", "name", "x"]), JSON_VALUES)
        ),
        "id_token": st.one_of(JSON_VALUES, st.dictionaries(st.sampled_from(["sub", "email", "acr"]), JSON_VALUES)),
    },
)
JSON_TEXT = st.one_of(JSON_VALUES.map(json.dumps), CLAIMS_LIKE.map(json.dumps), DEEP, DEEP)
CLAIMS_SET = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(st.text(max_size=20), JSON_VALUES) for name in ("sub", "iss", "aud", "exp", "iat", "jti", "kid")
    },
)
_JSON_PART = st.one_of(
    CLAIMS_SET.map(lambda d: json.dumps(d).encode()),
    DEEP.map(str.encode),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=32),
)
_HEADER_PART = st.one_of(
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["RS256", "ES256", "none", "HS256", ""])},
        optional={"kid": st.text(max_size=20), "typ": st.sampled_from(["JWT", "at+jwt", ""])},
    ).map(lambda d: json.dumps(d).encode()),
    _JSON_PART,
)
JWT_SHAPED = st.builds(
    lambda h, p, sig: _seg(h) + "." + _seg(p) + "." + sig, _HEADER_PART, _JSON_PART, st.sampled_from(["", "sig", "%%"])
)

# Hostile text, by kind. The kind is chosen with these weights (hypothesis's own choice among
# alternatives leans on a few of them); the value inside each kind comes from hypothesis.
TEXT_KINDS = [
    (st.sampled_from(HOSTILE_WORDS), 25),
    (st.text(max_size=40), 15),
    (st.text(alphabet=st.characters(min_codepoint=0x80), min_size=1, max_size=12), 12),  # non-ASCII
    (st.text(alphabet=st.characters(max_codepoint=0x3F), min_size=1, max_size=20), 12),  # controls, punctuation
    (st.integers(min_value=-(2**70), max_value=2**70).map(str), 6),
    (st.floats().map(repr), 4),
    (st.binary(min_size=1, max_size=24).map(lambda b: b.decode("latin-1")), 12),
    (LONG, 8),
    (JSON_TEXT, 6),
]


class _Text:
    """Stands for "a hostile text value" in the candidate lists of `pick`."""


TEXT = _Text()


def text_value(draw: st.DrawFn, rnd: Random) -> str:
    strategy = rnd.choices([k for k, _ in TEXT_KINDS], weights=[w for _, w in TEXT_KINDS])[0]
    return draw(strategy)


def hostile(draw: st.DrawFn, rnd: Random) -> object:
    """A hostile value: mostly text (unicode, control characters, long, numbers), sometimes raw bytes."""
    kind = rnd.choices(["text", "wrong_type", "raw", "raw_binary"], weights=[70, 10, 10, 10])[0]
    if kind == "text":
        return text_value(draw, rnd)
    if kind == "wrong_type":
        return draw(WRONG_TYPES)
    if kind == "raw":
        return Raw(rnd.choice(RAW_VALUES))
    return draw(RAW_BINARY)


# --- the world: one app, registered clients, users, and factories for real values ---------------------


@dataclass
class Browser:
    csrf: str
    session_user: str | None = None  # "alice", "bob", or None
    session_cookie: str | None = None
    session_sid: str | None = None


@dataclass
class Built:
    method: str
    url: str
    headers: list[tuple[str, bytes]]
    body: bytes | None
    values: list[str]
    params: list[tuple[str, str]] = field(default_factory=list)  # decoded query/form pairs

    def sent_text(self) -> str:
        parts = [self.method, self.url, unquote_plus(self.url)]
        parts += [v.decode("latin-1") for _, v in self.headers]
        for value in [v.decode("latin-1") for _, v in self.headers]:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                parts.append(base64.b64decode(value.split(" ", 1)[-1], validate=True).decode("utf-8", "replace"))
        if self.body:
            text = self.body.decode("utf-8", "replace")
            parts += [text, unquote_plus(text), self.body.decode("latin-1")]
        parts += self.values
        return "\n".join(parts)

    def __repr__(self) -> str:
        body = self.body if self.body is None or len(self.body) < 600 else self.body[:600] + b"..."
        url = self.url if len(self.url) < 600 else self.url[:600] + "..."
        headers = [(k, v if len(v) < 300 else v[:300] + b"...") for k, v in self.headers]
        return f"{self.method} {url}\nheaders={headers!r}\nbody={body!r}"


class World:
    def __init__(self, http: TestClient, small: TestClient, run_cli: Callable[..., dict]) -> None:
        self.http = http
        self.small = small
        self.svc = http.app_state["services"]
        self.run_cli = run_cli
        self.clients: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.key = ECKey.generate_key("P-256", parameters={"kid": "fuzz-ec-1"})
        self.totp_secret = pyotp.random_base32(32)
        self.backup_codes: list[str] = []

    # -- setup ------------------------------------------------------------------------------------
    def populate(self, tmp: Path) -> None:
        cb, cb_logout = "https://app.example/cb", "https://app.example/"
        sign_in = [
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--redirect-uri",
            cb,
            "--post-logout-redirect-uri",
            cb_logout,
            "--resource",
            API,
        ]
        self.clients["web"] = self.run_cli("client", "create", "--name", "Web", *sign_in)
        self.clients["web1p"] = self.run_cli("client", "create", "--name", "First", "--first-party", *sign_in)
        self.clients["mfaweb"] = self.run_cli(
            "client", "create", "--name", "Strict", "--first-party", "--require-mfa", *sign_in
        )
        self.clients["spa"] = self.run_cli(
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--post-logout-redirect-uri",
            "http://127.0.0.1/",
        )
        self.clients["device"] = self.run_cli(
            "client",
            "create",
            "--name",
            "TV",
            "--public",
            "--grant-type",
            DEVICE_GRANT,
            "--grant-type",
            "refresh_token",
            "--resource",
            API,
        )
        self.clients["service"] = self.run_cli(
            "client", "create", "--name", "Billing", "--scope", "invoices:read invoices:write", "--resource", API
        )
        self.clients["post"] = self.run_cli(
            "client",
            "create",
            "--name",
            "Poster",
            "--scope",
            "a b",
            "--token-endpoint-auth-method",
            "client_secret_post",
            "--resource",
            API,
        )
        jwks = tmp / "jwks.json"
        jwks.write_text(json.dumps(KeySet([self.key]).as_dict(private=False)))
        self.clients["pkjwt"] = self.run_cli(
            "client",
            "create",
            "--name",
            "Signer",
            "--scope",
            "a",
            "--token-endpoint-auth-method",
            "private_key_jwt",
            "--jwks-file",
            str(jwks),
            "--resource",
            API,
        )
        for name in ("alice", "bob"):
            self.users[name] = self.run_cli(
                "user",
                "create",
                "--username",
                name,
                "--email",
                f"{name}@example.com",
                "--name",
                name.title(),
                "--password-stdin",
                stdin=PASSWORD + "\n",
            )
            self.users[name]["hash"] = self.svc.store.get_user(self.users[name]["id"]).password_hash
        self.restore()

    def restore(self) -> None:
        """Undo what a fuzzed account request may have changed (passwords, bob's second factor)."""
        store = self.svc.store
        for user in self.users.values():
            if store.get_user(user["id"]).password_hash != user["hash"]:
                store.set_password_hash(user["id"], user["hash"])
        web = self.clients["web"]["client_id"]
        for user in self.users.values():  # /account/apps/revoke has something to remove
            if not store.get_consent(user["id"], web):
                store.add_consent(user["id"], web, frozenset({"openid", "profile", "email"}), int(time.time()))
        bob = self.users["bob"]["id"]
        factor = store.get_totp(bob)
        if factor is None or factor.confirmed_at is None or factor.secret_enc != getattr(self, "_sealed", None):
            store.delete_totp(bob)
            self._sealed = totp_sealer(self.svc).seal(self.totp_secret.encode(), bob)
            store.start_totp(bob, self._sealed, int(time.time()))
            store.confirm_totp(bob, 0, int(time.time()))
            self.backup_codes = []
        if not self.backup_codes:
            codes = backup_codes.generate()
            hashes = [backup_codes.hash_code(self.svc.hasher, backup_codes.normalise(c) or "") for c in codes]
            store.replace_backup_codes(bob, hashes, int(time.time()))
            self.backup_codes = codes

    # -- HTTP -------------------------------------------------------------------------------------
    def send(self, built: Built, client: TestClient | None = None):  # type: ignore[no-untyped-def]
        http = client or self.http
        http.cookies.clear()
        return http.request(built.method, built.url, headers=built.headers, content=built.body, follow_redirects=False)

    def _get(self, url: str, browser: Browser, *, session: bool = True):  # type: ignore[no-untyped-def]
        self.http.cookies.clear()
        return self.http.get(url, headers={"cookie": self.cookie(browser, session)}, follow_redirects=False)

    def _post(
        self, url: str, data: dict, browser: Browser | None = None, headers: dict | None = None, session: bool = True
    ):  # type: ignore[no-untyped-def]
        self.http.cookies.clear()
        headers = dict(headers or {})
        if browser is not None:
            headers["cookie"] = self.cookie(browser, session)
        return self.http.post(url, data=data, headers=headers, follow_redirects=False)

    @staticmethod
    def cookie(browser: Browser, session: bool = True) -> str:
        parts = [f"as_csrf={browser.csrf}"]
        if session and browser.session_cookie:
            parts.append(f"as_session={browser.session_cookie}")
        return "; ".join(parts)

    # -- real values ------------------------------------------------------------------------------
    def start_session(self, user: str) -> tuple[str, str]:
        mfa = user == "bob"
        auth = Authentication(
            user_id=self.users[user]["id"],
            auth_time=int(time.time()),
            amr=("pwd", "otp", "mfa") if mfa else ("pwd",),
            acr=ACR_MFA if mfa else ACR_PASSWORD,
        )
        value, session = start_session_sync(self.svc, auth, None)
        return value, session.sid

    def authorize_url(self, client: str, challenge: str, **extra: str) -> str:
        c = self.clients[client]
        params = {
            "response_type": "code",
            "client_id": c["client_id"],
            "redirect_uri": c["redirect_uris"][0],
            "scope": "openid profile email offline_access",
            "state": "st",
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return "/authorize?" + urlencode(params)

    def auth_code(self, client: str) -> tuple[str | None, str, str]:
        c = self.clients[client]
        if not c.get("first_party"):
            self.svc.store.add_consent(
                self.users["alice"]["id"],
                c["client_id"],
                frozenset({"openid", "profile", "email", "offline_access"}),
                int(time.time()),
            )
        value, _ = self.start_session("alice")
        verifier, challenge = pkce_pair()
        browser = Browser(csrf=uuid.uuid4().hex, session_cookie=value)
        response = self._get(self.authorize_url(client, challenge), browser)
        return query(response.headers.get("location", "")).get("code"), verifier, c["redirect_uris"][0]

    def user_tokens(self, client: str = "web1p") -> dict:
        code, verifier, redirect_uri = self.auth_code(client)
        c = self.clients[client]
        data = {
            "grant_type": "authorization_code",
            "code": code or "x",
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        }
        headers = {}
        if c.get("client_secret"):
            headers = basic(c["client_id"], c["client_secret"])
        else:
            data["client_id"] = c["client_id"]
        response = self._post("/token", data, headers=headers)
        return response.json() if response.status_code == 200 else {}

    def service_token(self) -> str:
        c = self.clients["service"]
        response = self._post(
            "/token", {"grant_type": "client_credentials"}, headers=basic(c["client_id"], c["client_secret"])
        )
        return response.json().get("access_token", "x")

    def device_authorization(self) -> dict:
        response = self._post("/device_authorization", {"client_id": self.clients["device"]["client_id"]})
        return response.json() if response.status_code == 200 else {}

    def device_interaction(self, browser: Browser, signed_in: bool) -> str | None:
        user_code = self.device_authorization().get("user_code", "")
        if signed_in and not browser.session_cookie:
            browser = Browser(browser.csrf, "alice", *self.start_session("alice"))
        response = self._post(
            "/device", {"csrf_token": browser.csrf, "user_code": user_code}, browser, session=signed_in
        )
        return query(response.headers.get("location", "")).get("interaction")

    def approved_device_code(self) -> str:
        device = self.device_authorization()
        browser = Browser(csrf=uuid.uuid4().hex, session_user="alice")
        browser.session_cookie, browser.session_sid = self.start_session("alice")
        response = self._post(
            "/device", {"csrf_token": browser.csrf, "user_code": device.get("user_code", "")}, browser
        )
        interaction = query(response.headers.get("location", "")).get("interaction", "")
        self._post(
            "/device/confirm", {"csrf_token": browser.csrf, "interaction": interaction, "decision": "allow"}, browser
        )
        return device.get("device_code", "x")

    def login_interaction(self, browser: Browser, client: str = "web1p") -> str | None:
        _, challenge = pkce_pair()
        response = self._get(self.authorize_url(client, challenge), browser, session=False)
        return query(response.headers.get("location", "")).get("interaction")

    def consent_interaction(self, browser: Browser) -> str | None:
        if not browser.session_cookie:
            browser = Browser(browser.csrf, "alice", *self.start_session("alice"))
        _, challenge = pkce_pair()
        response = self._get(self.authorize_url("web", challenge, prompt="consent"), browser)
        return query(response.headers.get("location", "")).get("interaction")

    def mfa_interaction(self, browser: Browser) -> str | None:
        interaction = self.login_interaction(browser)
        response = self._post(
            "/login",
            {"csrf_token": browser.csrf, "interaction": interaction or "", "username": "bob", "password": PASSWORD},
            browser,
            session=False,
        )
        return query(response.headers.get("location", "")).get("interaction")

    def account_interaction(self, browser: Browser) -> str | None:
        response = self._get("/account", browser, session=False)
        return query(response.headers.get("location", "")).get("interaction")

    def assertion(self, client: str = "pkjwt", **overrides: object) -> str:
        client_id = self.clients[client]["client_id"]
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": f"{ISSUER}/token",
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
            **overrides,
        }
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.key)

    def totp_now(self) -> str:
        return pyotp.TOTP(self.totp_secret).now()

    def backup_code(self) -> str:
        if not self.backup_codes:
            self.restore()
        return self.backup_codes.pop()


# --- turning a drawn example into a request ---------------------------------------------------------


@dataclass
class Example:
    op: spec.Operation
    method: str
    path: str
    client: str
    browser: Browser
    query: list[tuple[object, object]] = field(default_factory=list)
    form: list[tuple[object, object]] | None = None
    body_mode: str = "form"
    content_type: str | None = "application/x-www-form-urlencoded"
    raw_body: bytes | None = None
    auth: str = "none"
    auth_value: object = None
    csrf_cookie: str = "match"
    session_mode: str = "none"
    extra_headers: list[tuple[str, object]] = field(default_factory=list)
    mode: str = "valid"


def _header_bytes(value: str) -> bytes:
    # Real servers refuse CR, LF and NUL in header values before any application code runs.
    raw = value.encode("utf-8", "surrogatepass")
    return bytes(b if (b >= 0x20 and b != 0x7F) or b == 0x09 else 0x3F for b in raw)


class Materialiser:
    """Resolves Lazy values against the world (once per example) and encodes the request."""

    def __init__(self, world: World, example: Example) -> None:
        self.w = world
        self.ex = example
        self.cache: dict[str, str] = {}
        self.values: list[str] = []
        self.params: list[tuple[str, str]] = []

    def session(self) -> None:
        b, mode = self.ex.browser, self.ex.session_mode
        if mode in ("alice", "bob") and b.session_cookie is None:
            b.session_user = mode
            b.session_cookie, b.session_sid = self.w.start_session(mode)

    def lazy(self, kind: str) -> str:
        if kind in self.cache:
            return self.cache[kind]
        w, b, client = self.w, self.ex.browser, self.ex.client
        value: str | None
        if kind == "csrf":
            value = b.csrf
        elif kind in ("code", "code_verifier", "code_redirect_uri"):
            code, verifier, redirect_uri = w.auth_code(
                client if client in ("web", "web1p", "spa", "mfaweb") else "web1p"
            )
            self.cache.update(code=code or "no-code", code_verifier=verifier, code_redirect_uri=redirect_uri)
            value = self.cache[kind]
        elif kind == "refresh_token":
            value = w.user_tokens(client if client in ("web", "web1p", "spa") else "web1p").get("refresh_token")
        elif kind in ("access_token_user", "id_token"):
            tokens = w.user_tokens()
            self.cache.update(access_token_user=tokens.get("access_token", "x"), id_token=tokens.get("id_token", "x"))
            value = self.cache[kind]
        elif kind == "access_token_service":
            value = w.service_token()
        elif kind == "device_code":
            value = w.device_authorization().get("device_code")
        elif kind == "device_code_approved":
            value = w.approved_device_code()
        elif kind == "user_code":
            value = w.device_authorization().get("user_code")
        elif kind == "interaction:login":
            value = w.login_interaction(b, client if client in ("web", "web1p", "mfaweb") else "web1p")
        elif kind == "interaction:account":
            value = w.account_interaction(b)
        elif kind == "interaction:device_login":
            value = w.device_interaction(b, signed_in=False)
        elif kind == "interaction:device":
            self.session()
            value = w.device_interaction(b, signed_in=True)
        elif kind == "interaction:consent":
            self.session()
            value = w.consent_interaction(b)
        elif kind == "interaction:mfa":
            value = w.mfa_interaction(b)
        elif kind == "sid":
            self.session()
            value = b.session_sid or w.start_session("alice")[1]
        elif kind == "other_sid":
            value = w.start_session(b.session_user or "alice")[1]
        elif kind == "totp":
            value = w.totp_now()
        elif kind == "backup":
            value = w.backup_code()
        elif kind == "assertion":
            value = w.assertion()
        elif kind == "assertion_wrong_aud":
            value = w.assertion(aud="https://evil.example/token")
        elif kind == "assertion_no_jti":
            value = w.assertion(jti=None)
        elif kind == "assertion_other_sub":
            value = w.assertion(sub="someone-else")
        else:  # pragma: no cover - a typo in a strategy
            raise AssertionError(f"unknown lazy value {kind}")
        self.cache[kind] = value or "unavailable"
        return self.cache[kind]

    def text(self, value: object) -> str:
        if isinstance(value, Lazy):
            value = self.lazy(value.kind)
        if isinstance(value, Raw):
            return value.data.decode("latin-1")
        return str(value)

    def enc(self, value: object) -> bytes:
        if isinstance(value, Raw):
            self.values.append(value.data.decode("latin-1"))
            return value.data
        text = self.text(value)
        self.values.append(text)
        return quote_plus(text.encode("utf-8", "surrogatepass")).encode()

    def urlencoded(self, pairs: list[tuple[object, object]]) -> bytes:
        out = []
        for key, value in pairs:
            if value is None:  # a key without "="
                out.append(self.enc(key))
            else:
                k, v = self.enc(key), self.enc(value)
                out.append(k + b"=" + v)
                self.params.append((unquote_plus(k.decode("latin-1")), unquote_plus(v.decode("latin-1"))))
        return b"&".join(out)

    def build(self) -> Built:
        ex = self.ex
        self.session()
        headers: list[tuple[str, bytes]] = []
        # Authentication
        if ex.auth == "basic":
            cid, secret = ex.auth_value  # type: ignore[misc]

            def part(value: object) -> str:  # RFC 6749 §2.3.1: form-urlencoded, then base64
                return quote(self.text(value).encode("utf-8", "surrogatepass"), safe="")

            raw = f"{part(cid)}:{part(secret)}".encode()
            headers.append(("authorization", b"Basic " + base64.b64encode(raw)))
        elif ex.auth == "basic_raw":
            headers.append(
                (
                    "authorization",
                    b"Basic " + base64.b64encode(self.text(ex.auth_value).encode("utf-8", "surrogatepass")),
                )
            )
        elif ex.auth == "bearer":
            headers.append(("authorization", b"Bearer " + _header_bytes(self.text(ex.auth_value))))
        elif ex.auth == "header":
            headers.append(("authorization", _header_bytes(self.text(ex.auth_value))))
        elif ex.auth == "two":
            headers.append(("authorization", b"Bearer " + _header_bytes(self.text(Lazy("access_token_user")))))
            headers.append(("authorization", b"Basic " + base64.b64encode(b"a:b")))
        # Cookies
        b = ex.browser
        cookies = []
        if ex.csrf_cookie == "match":
            cookies.append(f"as_csrf={b.csrf}")
        elif ex.csrf_cookie == "other":
            cookies.append(f"as_csrf={uuid.uuid4().hex}")
        elif ex.csrf_cookie == "short":
            cookies.append("as_csrf=abc")
        elif ex.csrf_cookie == "long":
            cookies.append("as_csrf=" + "c" * 101)
        elif ex.csrf_cookie == "twice":
            cookies += [f"as_csrf={uuid.uuid4().hex}", f"as_csrf={b.csrf}"]
        if b.session_cookie:
            cookies.append(f"as_session={b.session_cookie}")
        elif ex.session_mode == "garbage":
            cookies.append("as_session=" + uuid.uuid4().hex)
        elif ex.session_mode == "long":
            cookies.append("as_session=" + "s" * 101)
        for name, value in ex.extra_headers:
            if name == "cookie":
                cookies.append(self.text(value))
        if cookies:
            headers.append(("cookie", _header_bytes("; ".join(cookies))))
        for name, value in ex.extra_headers:
            if name != "cookie":
                headers.append((name, _header_bytes(self.text(value))))
        # Query
        url = ex.path
        if ex.query:
            url += "?" + self.urlencoded(ex.query).decode("latin-1")
            # Servers refuse request lines this long before any application code (h11: 16 KiB).
            url = url[:12000]
        # Body
        body: bytes | None = None
        if ex.raw_body is not None:
            body = ex.raw_body
        elif ex.form is not None:
            if ex.body_mode == "json":
                data: dict[str, object] = {}
                for key, value in ex.form:
                    k, v = self.text(key), (None if value is None else self.text(value))
                    data[k] = [data[k], v] if k in data else v
                    self.values += [k, str(v)]
                body = json.dumps(data).encode()
            elif ex.body_mode == "multipart":
                chunks = []
                for key, value in ex.form:
                    k, v = self.text(key), self.text(value if value is not None else "")
                    self.values += [k, v]
                    chunks.append(
                        b'--XyZ\r\nContent-Disposition: form-data; name="'
                        + k.encode("utf-8", "replace")
                        + b'"\r\n\r\n'
                        + v.encode("utf-8", "surrogatepass")
                        + b"\r\n"
                    )
                body = b"".join(chunks) + b"--XyZ--\r\n"
            else:
                body = self.urlencoded(ex.form)
        if ex.content_type is not None and (body is not None or ex.method in ("POST", "PUT", "PATCH")):
            headers.append(("content-type", _header_bytes(ex.content_type)))
        return Built(ex.method, url, headers, body, self.values, self.params)


# --- strategies -------------------------------------------------------------------------------------
#
# The shape of each request (which client, valid or broken, which mutations, which encoding) is chosen
# with explicit weights from a Random that hypothesis seeds (so runs are reproducible); the hostile
# values themselves come from hypothesis strategies, whose edge-case heuristics are what find bugs.

CLIENTS_FOR_GRANT = {
    "authorization_code": ["web1p", "web", "spa"],
    "refresh_token": ["web1p", "web", "spa"],
    "client_credentials": ["service", "post", "pkjwt"],
    DEVICE_GRANT: ["device"],
}
CLIENTS_FOR_OP = {
    "introspect": ["service", "post", "pkjwt"],
    "revoke": ["service", "web1p", "spa", "device", "pkjwt"],
    "deviceAuthorization": ["device"],
    "authorizeGet": ["web1p", "web", "spa", "mfaweb"],
    "authorizePost": ["web1p", "web", "spa", "mfaweb"],
    "logoutGet": ["web", "web1p", "spa"],
    "logoutPost": ["web", "web1p", "spa"],
    "accountRevokeApp": ["web"],
}
INTERACTIONS = {
    "/login": ["interaction:login", "interaction:login", "interaction:account", "interaction:device_login"],
    "/mfa": ["interaction:mfa"],
    "/consent": ["interaction:consent"],
    "/device/confirm": ["interaction:device"],
}
VALID_CLAIMS = [
    '{"userinfo":{"email":null,"name":{"essential":true}}}',
    '{"id_token":{"email":null}}',
    '{"userinfo":{"sub":{"value":"nobody"}}}',
    "{}",
]
TOTP_PATHS = ("/mfa", "/account/reauth", "/account/mfa/totp")


def pick(
    rnd: Random, good: list, bad: list | None = None, p_good: float = 0.8, draw: st.DrawFn | None = None
) -> object:
    """Mostly a valid value, sometimes a plausible wrong one (a strategy in `bad` is drawn from)."""
    chosen = rnd.choice(bad) if bad and rnd.random() >= p_good else rnd.choice(good)
    if chosen is TEXT:
        assert draw is not None
        return text_value(draw, rnd)
    if isinstance(chosen, st.SearchStrategy):
        assert draw is not None
        return draw(chosen)
    return chosen


def schema_value(draw: st.DrawFn, rnd: Random, schema: dict) -> object:
    if "const" in schema:
        return str(schema["const"])
    if "enum" in schema:
        return str(rnd.choice(schema["enum"]))
    if schema.get("examples") and rnd.random() < 0.6:
        return str(rnd.choice(schema["examples"]))
    if schema.get("pattern"):
        return draw(st.from_regex(schema["pattern"], fullmatch=True))
    if schema.get("format") == "uri":
        return rnd.choice(["https://app.example/cb", API, "http://127.0.0.1/cb", "https://app.example/"])
    return draw(SAFE_TOKEN)


def smart_value(
    draw: st.DrawFn, rnd: Random, name: str, schema: dict, op: spec.Operation, world: World, client: str
) -> object:
    """A valid-ish value: a real one from the world where the parameter's name says what it is."""
    c = world.clients[client]
    if name == "client_id":
        return pick(rnd, [c["client_id"]], [world.clients[n]["client_id"] for n in world.clients])
    if name == "client_secret":
        return pick(rnd, [c.get("client_secret") or "none"], [world.clients["service"]["client_secret"]])
    if name == "client_assertion":
        return pick(
            rnd,
            [Lazy("assertion")],
            [
                Lazy("assertion_wrong_aud"),
                Lazy("assertion_no_jti"),
                Lazy("assertion_other_sub"),
                NONE_JWT,
                JWT_SHAPED,
                JWT_SHAPED,
                st.sampled_from(HOSTILE_JWTS),
            ],
            0.7,
            draw,
        )
    if name == "redirect_uri":
        if op.operation_id == "token":
            return pick(rnd, [Lazy("code_redirect_uri")], ["https://app.example/cb", "https://app.example/other"])
        return pick(
            rnd,
            c.get("redirect_uris") or ["https://app.example/cb"],
            ["http://127.0.0.1:4711/cb", "https://app.example/other", "https://app.example/cb?x=1"],
        )
    if name == "post_logout_redirect_uri":
        return pick(rnd, c.get("post_logout_redirect_uris") or ["https://app.example/"], ["https://evil.example/"])
    if name == "scope":
        scopes = (c.get("scope") or "openid").split()
        chosen = rnd.sample(scopes, rnd.randint(1, len(scopes)))
        if "openid" in scopes and "openid" not in chosen and rnd.random() < 0.7:
            chosen.insert(0, "openid")
        return pick(
            rnd,
            [" ".join(chosen)],
            ["openid", "openid offline_access", "invoices:read", "a", "unknown", TEXT, TEXT],
            draw=draw,
        )
    if name == "resource":
        return pick(rnd, [API], ["https://other.example.com", "urn:x", TEXT], draw=draw)
    if name == "code_challenge":
        return pick(rnd, [pkce_pair()[1]], ["short", "a" * 43, "=" * 43])
    if name == "code_challenge_method":
        return pick(rnd, ["S256"], ["plain", "s256"], 0.9)
    if name == "response_type":
        return pick(rnd, ["code"], ["token", "id_token", "code id_token"], 0.9)
    if name == "code":
        if op.path in TOTP_PATHS:
            return pick(rnd, [Lazy("totp"), Lazy("totp"), Lazy("backup")], ["000000", "123 456", "abcde-fghjk"])
        return pick(rnd, [Lazy("code")], ["expired-or-unknown"])
    if name == "code_verifier":
        return pick(rnd, [Lazy("code_verifier")], ["a" * 43, "short"])
    if name == "refresh_token":
        return pick(rnd, [Lazy("refresh_token")], ["unknown-refresh"])
    if name == "device_code":
        return pick(rnd, [Lazy("device_code"), Lazy("device_code_approved")], ["unknown-device-code"])
    if name in ("token", "access_token"):
        return pick(
            rnd,
            [Lazy("access_token_user"), Lazy("access_token_service"), Lazy("refresh_token")],
            [Lazy("id_token"), "opaque", JWT_SHAPED, TEXT],
            draw=draw,
        )
    if name == "token_type_hint":
        return pick(rnd, ["access_token", "refresh_token"], ["id_token", "bogus"])
    if name == "id_token_hint":
        return pick(rnd, [Lazy("id_token")], [Lazy("access_token_user"), NONE_JWT, JWT_SHAPED], draw=draw)
    if name == "interaction":
        return pick(rnd, [Lazy(k) for k in INTERACTIONS.get(op.path, ["interaction:login"])], ["unknown"], 0.85)
    if name == "csrf_token":
        return pick(rnd, [Lazy("csrf")], ["wrong-csrf-token-0123456789"], 0.9)
    if name in ("username", "login_hint"):
        return pick(rnd, ["alice", "bob", "alice@example.com"], ["BOB", " alice ", "nobody"])
    if name in ("password", "current_password"):
        return pick(rnd, [PASSWORD], ["wrong password here"])
    if name in ("new_password", "confirm_password"):
        return pick(rnd, ["purple elephants dance quietly 42"], ["short", "password1234", PASSWORD, "alice"], 0.92)
    if name == "user_code":
        return pick(rnd, [Lazy("user_code")], ["BCDF-GHJK"])
    if name == "sid":
        return pick(rnd, [Lazy("sid"), Lazy("other_sid")], ["no-such-session"])
    if name == "decision":
        return pick(rnd, ["allow", "deny"], ["maybe"], 0.9)
    if name == "confirm":
        return "yes"
    if name == "claims" or schema.get("contentMediaType") == "application/json":
        return pick(rnd, VALID_CLAIMS, [JSON_TEXT, DEEP], 0.6, draw)
    if name in ("state", "nonce", "logout_hint", "ui_locales"):
        return draw(SAFE_TOKEN)
    if name == "max_age":
        return rnd.choice(["0", "60", "3600", "9999999999"])
    if name == "prompt":
        return rnd.choice(["login", "consent", "none", "select_account", "login consent"])
    if name == "acr_values":
        return rnd.choice(["urn:authserver:loa:2", "urn:authserver:loa:1"])
    if name in ("request", "request_uri", "registration"):
        return "x"
    return schema_value(draw, rnd, schema)


# How often a valid-ish request carries an optional parameter: rarely the ones that end a request early,
# nearly always the ones the default configuration needs (PKCE).
RARELY = {"request", "request_uri", "registration", "id_token_hint", "prompt", "max_age", "acr_values"}
USUALLY = {"code_challenge", "code_challenge_method", "code_verifier", "state", "nonce"}


def include_probability(name: str) -> float:
    return 0.1 if name in RARELY else 0.95 if name in USUALLY else 0.5


@st.composite
def examples(draw: st.DrawFn, op: spec.Operation, world: World, variant: int = 0) -> Example:
    rnd = Random(f"{op.operation_id}:{variant}:{draw(st.integers(0, 2**64 - 1))}")
    form_fields = op.forms[variant] if op.forms else None
    grant = (form_fields or {}).get("grant_type", {}).get("const")
    client = rnd.choice(CLIENTS_FOR_GRANT.get(grant) or CLIENTS_FOR_OP.get(op.operation_id) or ["web1p"])
    browser = Browser(csrf="".join(rnd.choice(string.ascii_letters + string.digits + "-_") for _ in range(32)))
    mode = rnd.choices(["valid", "single", "mutated", "hostile"], weights=[30, 25, 30, 15])[0]

    # Method and path.
    method, path = op.method, op.path
    if rnd.random() < 0.05:
        method = rnd.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "GET", "POST"])
    if "{path}" in path:
        name = rnd.choice(
            [
                "app.css",
                "form_post.js",
                "../app.py",
                "..%2f..%2fpyproject.toml",
                "%00",
                "nope.css",
                "",
                "a/b/c",
                ".",
                text_value(draw, rnd),
            ]
        )
        path = path.replace("{path}", quote(name.encode("utf-8", "surrogatepass"), safe="/%"))

    # Parameters: the valid-ish baseline.
    fields = form_fields if form_fields is not None else op.query
    pairs: list[tuple[object, object]] = []
    for name, schema in fields.items():
        if not schema.get("x-required") and rnd.random() >= include_probability(name):
            continue
        if (
            name in ("client_id", "client_secret", "client_assertion", "client_assertion_type")
            and op.forms
            and "clientSecretBasic" in op.security
        ):
            continue  # decided with the authentication below
        if schema.get("type") == "array":
            for _ in range(rnd.choice([0, 1, 1, 2])):
                pairs.append((name, smart_value(draw, rnd, name, schema.get("items", {}), op, world, client)))
            continue
        pairs.append((name, smart_value(draw, rnd, name, schema, op, world, client)))

    # Client authentication, bearer tokens, sessions.
    ex = Example(op=op, method=method, path=path, client=client, browser=browser, mode=mode)
    c = world.clients[client]
    if "clientSecretBasic" in op.security:
        auth_method = c["token_endpoint_auth_method"]
        if auth_method == "client_secret_basic":
            ex.auth, ex.auth_value = "basic", (c["client_id"], c["client_secret"])
        elif auth_method == "client_secret_post":
            pairs += [("client_id", c["client_id"]), ("client_secret", c["client_secret"])]
        elif auth_method == "private_key_jwt":
            pairs += [
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", smart_value(draw, rnd, "client_assertion", {}, op, world, client)),
            ]
        else:
            pairs.append(("client_id", c["client_id"]))
    if "metricsToken" in op.security and rnd.random() < 0.75:
        ex.auth, ex.auth_value = "bearer", OVERRIDES["metrics_token"]
    if "bearerAccessToken" in op.security and rnd.random() < 0.75:
        ex.auth, ex.auth_value = "bearer", smart_value(draw, rnd, "access_token", {}, op, world, client)
    if "sessionCookie" in op.security:
        ex.session_mode = rnd.choices(["alice", "bob", "none", "garbage"], weights=[55, 25, 15, 5])[0]
    elif op.path.startswith("/device"):
        ex.session_mode = rnd.choice(["alice", "none"])

    # Breaking it.
    if mode == "single" and pairs:  # one hostile value in an otherwise valid request
        index = rnd.randrange(len(pairs))
        pairs[index] = (pairs[index][0], hostile(draw, rnd))
    elif mode != "valid":
        for _ in range(rnd.randint(1, 3 if mode == "mutated" else 6)):
            pairs = mutate(draw, rnd, pairs, fields)
        if rnd.random() < 0.3:
            ex.auth, ex.auth_value = hostile_auth(draw, rnd, world, client)
        if rnd.random() < 0.3:
            ex.csrf_cookie = rnd.choice(["none", "other", "short", "long", "twice"])
        if rnd.random() < 0.3:
            ex.session_mode = rnd.choice(["alice", "bob", "none", "garbage", "long"])
        if rnd.random() < 0.25:
            header = rnd.choice(
                [
                    "x-request-id",
                    "user-agent",
                    "cookie",
                    "host",
                    "accept",
                    "x-forwarded-for",
                    "origin",
                    "content-length",
                ]
            )
            if header == "content-length":
                # uvicorn (h11 / httptools) refuses anything but ASCII digits before the app runs.
                value: object = rnd.choice(["0", "1", "7", "00012", "65537", "99999999999999999999"])
            else:
                value = text_value(draw, rnd)
            ex.extra_headers.append((header, value))
    if mode == "hostile":
        junk = [(draw(KEY_TEXT), hostile(draw, rnd)) for _ in range(rnd.randint(1, 6))]
        pairs = junk + pairs if rnd.random() < 0.5 else pairs + junk

    # Encoding.
    if form_fields is not None and method != "GET":
        ex.form = pairs
        body_mode = "form"
        if mode in ("mutated", "hostile") and rnd.random() < 0.35:
            body_mode = rnd.choice(["json", "multipart", "text", "none", "empty", "binary", "latin1", "query_too"])
        ex.body_mode = body_mode
        if body_mode == "form":
            if rnd.random() < 0.2:
                ex.content_type = rnd.choice(
                    [
                        "application/x-www-form-urlencoded; charset=UTF-8",
                        "Application/X-WWW-Form-Urlencoded",
                        "application/x-www-form-urlencoded; charset=iso-8859-1",
                        "application/x-www-form-urlencoded;;;",
                    ]
                )
        elif body_mode == "json":
            ex.content_type = rnd.choice(["application/json", "application/x-www-form-urlencoded"])
        elif body_mode == "multipart":
            ex.content_type = "multipart/form-data; boundary=XyZ"
        elif body_mode == "text":
            ex.content_type = rnd.choice(["text/plain", "application/xml", "*/*", "", ";", "\u00e9/\u00e9"])
        elif body_mode == "none":
            ex.content_type = None
        elif body_mode == "empty":
            ex.form, ex.raw_body = None, b""
            ex.content_type = rnd.choice([None, "application/x-www-form-urlencoded"])
        elif body_mode == "binary":
            ex.form, ex.raw_body = None, draw(st.binary(max_size=512))
        elif body_mode == "latin1":  # unescaped non-UTF-8 bytes
            ex.form = None
            ex.raw_body = (
                b"&".join(k.encode("latin-1", "replace") + b"=\xe9t\xe9" for k, _ in pairs if isinstance(k, str))
                or b"a=\xe9"
            )
        elif body_mode == "query_too":
            ex.query = pairs
    else:
        ex.query = pairs
        if method != "GET" and rnd.random() < 0.5:
            ex.form = [(draw(KEY_TEXT), text_value(draw, rnd))]
        ex.content_type = "application/x-www-form-urlencoded" if ex.form is not None else None
    return ex


def mutate(
    draw: st.DrawFn, rnd: Random, pairs: list[tuple[object, object]], fields: dict
) -> list[tuple[object, object]]:
    pairs = list(pairs)
    names = list(fields) or ["x"]
    kind = rnd.choices(
        [
            "replace",
            "drop",
            "duplicate",
            "unknown",
            "other_field",
            "wrong_type",
            "bare_key",
            "empty_value",
            "case",
            "raw",
            "many",
        ],
        weights=[30, 10, 15, 8, 8, 8, 4, 6, 3, 6, 2],
    )[0]
    index = rnd.randrange(len(pairs)) if pairs else 0
    if kind == "replace" and pairs:
        pairs[index] = (pairs[index][0], hostile(draw, rnd))
    elif kind == "drop" and pairs:
        del pairs[index]
    elif kind == "duplicate" and pairs:
        key, value = pairs[index]
        pairs.insert(rnd.randint(0, len(pairs)), (key, value if rnd.random() < 0.5 else hostile(draw, rnd)))
    elif kind == "unknown":
        pairs.append((draw(KEY_TEXT), hostile(draw, rnd)))
    elif kind == "other_field":
        pairs.append(
            (
                rnd.choice(
                    [
                        *names,
                        "grant_type",
                        "client_id",
                        "token",
                        "interaction",
                        "resource",
                        "scope",
                        "response_type",
                        "csrf_token",
                    ]
                ),
                hostile(draw, rnd),
            )
        )
    elif kind == "wrong_type" and pairs:
        pairs[index] = (pairs[index][0], draw(WRONG_TYPES))
    elif kind == "bare_key":
        pairs.append((rnd.choice(names), None))
    elif kind == "empty_value" and pairs:
        pairs[index] = (pairs[index][0], "")
    elif kind == "case" and pairs:
        key = pairs[index][0]
        pairs[index] = (key.upper() if isinstance(key, str) else key, pairs[index][1])
    elif kind == "raw":
        pairs.append((rnd.choice(names), Raw(rnd.choice(RAW_VALUES))))
    elif kind == "many":
        pairs += [(f"p{i}", "v") for i in range(rnd.choice([50, 99, 101, 300]))]
    return pairs


def hostile_auth(draw: st.DrawFn, rnd: Random, world: World, client: str) -> tuple[str, object]:
    c = world.clients[client]
    choice = rnd.choice(
        ["basic_hostile_id", "basic_hostile_secret", "basic_raw", "bearer", "header", "two", "none", "basic_other"]
    )
    if choice == "basic_hostile_id":
        nul = rnd.choice(["a\x00b", c["client_id"] + "\x00", "\x00", "%00"])
        return "basic", (
            text_value(draw, rnd) if rnd.random() < 0.6 else nul,
            rnd.choice(["secret", c.get("client_secret") or ""]),
        )
    if choice == "basic_hostile_secret":
        return "basic", (c["client_id"], text_value(draw, rnd))
    if choice == "basic_other":
        service = world.clients["service"]
        return "basic", (service["client_id"], service["client_secret"])
    if choice == "basic_raw":
        return "basic_raw", rnd.choice([text_value(draw, rnd), "nocolon", ":", ":secret", "\xff\xfe:x", "a:b:c"])
    if choice == "bearer":
        return "bearer", rnd.choice(
            [
                text_value(draw, rnd),
                Lazy("access_token_service"),
                Lazy("id_token"),
                DEEP_JWT_HEADER,
                DEEP_JWT_PAYLOAD,
                NONE_JWT,
                "",
                draw(JWT_SHAPED),
                *HOSTILE_JWTS,
            ]
        )
    if choice == "header":
        return "header", rnd.choice(
            [
                text_value(draw, rnd),
                "Basic",
                "Bearer",
                "Basic !!!",
                "Digest x",
                "Bearer  ",
                "Negotiate abc",
                "basic " + "A" * 5000,
            ]
        )
    if choice == "two":
        return "two", None
    return "none", None


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("fuzz")
    env = {
        "AUTHSERVER_ENV": "development",
        "AUTHSERVER_ISSUER": ISSUER,
        "AUTHSERVER_DATABASE_URL": migrated,
        "AUTHSERVER_SECRET_KEY": SECRET,
        "AUTHSERVER_KEYS_DIR": str(tmp / "keys"),
        "AUTHSERVER_CACHE_PREFIX": f"authserver-fuzz:{uuid.uuid4().hex}:",
        # argon2id at its cheapest, as in tests/conftest.py: hundreds of sign-ins, no timings asserted.
        "AUTHSERVER_ARGON2_COST": "test",
    }
    if REDIS_URL:
        env["AUTHSERVER_REDIS_URL"] = REDIS_URL
    mp = pytest.MonkeyPatch()
    for key in list(os.environ):
        if key.startswith("AUTHSERVER_"):
            mp.delenv(key)
    for key, value in env.items():
        mp.setenv(key, value)

    def run_cli(*args: str, stdin: str = "") -> dict:
        out = io.StringIO()
        mp.setattr(sys, "stdin", io.StringIO(stdin))
        with contextlib.redirect_stdout(out):
            code = cli_main([*args, "--json"])
        assert code == 0, (args, out.getvalue())
        return json.loads(out.getvalue())

    opened: list[TestClient] = []
    try:
        for extra in ({}, {"max_body_bytes": BODY_LIMIT}):
            client = TestClient(create_app(make_settings(**extra)), base_url=ISSUER, raise_server_exceptions=False)
            client.__enter__()
            opened.append(client)
        w = World(opened[0], opened[1], run_cli)
        w.populate(tmp)
        yield w
    finally:
        for client in opened:
            client.__exit__(None, None, None)
        _empty_tables(migrated)
        mp.undo()


def check(op: spec.Operation, built: Built, response) -> None:  # type: ignore[no-untyped-def]
    body = response.content.decode("utf-8", "replace")
    status = response.status_code
    found = leaks(body, built.sent_text())
    assert not found, f"{op}: response leaks {found}\n{built!r}\n-> {status} {body[:2000]}"
    if status >= 500 and status != 503:
        reason = known_bug(op.operation_id, built)
        if reason is not None:
            note(f"tolerated known bug: {reason}")
            return
    assert status < 500, f"{op}: {status}\n{built!r}\n-> {body[:2000]}"


# --- the fuzz tests -------------------------------------------------------------------------------------

OPERATIONS = spec.operations()
# FUZZ_STATS=1 prints what each operation answered (run with -s), to see how deep the fuzzer gets.
STATS: dict[str, Counter] | None = {} if os.environ.get("FUZZ_STATS") else None
_ALERT = re.compile(r'role="alert">\s*([^<]{0,70})')


def summary(response) -> str:  # type: ignore[no-untyped-def]
    status = response.status_code
    if status in (301, 302, 303, 307):
        return f"{status} -> {response.headers.get('location', '').split('?')[0][:40]}"
    if status < 400:
        return str(status)
    alert = _ALERT.search(response.text)
    if alert:
        return f"{status} page: {alert.group(1).strip()[:60]}"
    with contextlib.suppress(ValueError, AttributeError):
        body = response.json()
        return f"{status} {body.get('error')}: {str(body.get('error_description'))[:50]}"
    return f"{status} {response.text[:40]!r}"


def _variant_id(op: spec.Operation, index: int) -> str:
    if len(op.forms) < 2:
        return op.operation_id
    grant = op.forms[index].get("grant_type", {}).get("const", str(index))
    return f"{op.operation_id}-{grant.rsplit(':', 1)[-1]}"


# Each alternative of a oneOf body (the token endpoint's grants) is fuzzed as an operation of its own.
CASES = [(op, i) for op in OPERATIONS for i in range(max(1, len(op.forms)))]


@pytest.mark.parametrize(("op", "variant"), CASES, ids=[_variant_id(op, i) for op, i in CASES])
def test_fuzz_operation(world: World, op: spec.Operation, variant: int) -> None:
    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        example = data.draw(examples(op, world, variant))
        built = Materialiser(world, example).build()
        note(repr(built))
        response = world.send(built)
        outcome = summary(response)
        event(outcome)
        if STATS is not None:
            STATS.setdefault(op.operation_id, Counter())[outcome] += 1
            if os.environ.get("FUZZ_STATS") == "2":
                print(f"\n--- [{example.mode}] {built!r}\n=> {outcome}")
        check(op, built, response)
        if op.path.startswith("/account"):
            world.restore()

    run()
    if STATS is not None:
        print(
            f"\n{_variant_id(op, variant)} {op}: "
            + ", ".join(f"{n}x {k}" for k, n in STATS.pop(op.operation_id, Counter()).most_common())
        )


# The form endpoints read the body before anything else; the JSON ones (the admin API, /register) check
# the bearer token first and refuse without one before reading (tests/http/test_admin_api.py covers 413).
POSTS = [op for op in OPERATIONS if op.method == "POST" and op.forms]


def _valid_form(op: spec.Operation, world: World) -> tuple[list[tuple[str, bytes]], str]:
    c = world.clients["service"]
    headers = [("content-type", b"application/x-www-form-urlencoded"), ("cookie", b"as_csrf=" + b"c" * 32)]
    if "clientSecretBasic" in op.security:
        headers.append(
            ("authorization", b"Basic " + base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()))
        )
    first = next(iter(op.forms[0]), "x") if op.forms else "x"
    return headers, first


@pytest.mark.parametrize("op", POSTS, ids=[op.operation_id for op in POSTS])
@pytest.mark.parametrize("how", ["declared", "chunked"])
def test_body_over_the_limit_is_413(world: World, op: spec.Operation, how: str) -> None:
    headers, first = _valid_form(op, world)
    prefix = f"csrf_token={'c' * 32}&{first}=".encode()
    over = prefix + b"a" * (BODY_LIMIT + 1 - len(prefix))
    assert len(over) == BODY_LIMIT + 1
    world.small.cookies.clear()
    if how == "declared":
        response = world.small.request("POST", op.path, headers=headers, content=over)
    else:

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(over), 256):
                yield over[i : i + 256]

        response = world.small.request("POST", op.path, headers=headers, content=chunks())
    assert response.status_code == 413, (op, how, response.status_code, response.text[:500])
    assert not leaks(response.text, over.decode())


@pytest.mark.parametrize("op", POSTS, ids=[op.operation_id for op in POSTS])
def test_body_at_the_limit_is_not_413(world: World, op: spec.Operation) -> None:
    headers, first = _valid_form(op, world)
    prefix = f"csrf_token={'c' * 32}&{first}=".encode()
    exact = prefix + b"a" * (BODY_LIMIT - len(prefix))
    world.small.cookies.clear()
    response = world.small.request("POST", op.path, headers=headers, content=exact, follow_redirects=False)
    assert response.status_code != 413 and response.status_code < 500, (op, response.status_code, response.text[:500])


# --- the document itself ---------------------------------------------------------------------------------


def test_openapi_describes_every_route_and_method(world: World) -> None:
    from starlette.routing import Mount, Route

    app = world.http.app
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            served |= {(m, route.path) for m in (route.methods or ()) if m != "HEAD"}
        elif isinstance(route, Mount):
            served.add(("GET", route.path + "/{path}"))
    documented = {(op.method, op.path) for op in OPERATIONS}
    assert served - documented == set(), "routes missing from docs/openapi.yaml"
    assert documented - served == set(), "docs/openapi.yaml describes routes the app does not serve"


def test_openapi_document_is_consistent() -> None:
    document = spec.load()
    assert document["openapi"].startswith("3.1")
    for ref in spec.all_refs():
        spec.resolve({"$ref": ref})  # raises if it does not resolve
    ids = [op.operation_id for op in OPERATIONS]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    schemes = set(document["components"]["securitySchemes"])
    for op in OPERATIONS:
        assert set(op.security) <= schemes, op
        assert op.statuses, op
        if op.method == "POST" and op.forms:
            assert "413" in op.statuses, f"{op} reads a body, so it can answer 413"


def test_leak_detector() -> None:
    traceback = 'Traceback (most recent call last):\n  File "/work/main/authserver/x.py", line 3, in f\n'
    assert {"Traceback", 'File "', "/work/", "traceback frame"} <= set(leaks(traceback, ""))
    assert leaks("(psycopg.errors.DataError) [SQL: SELECT clients.client_id FROM clients]", "")
    assert leaks('{"error":"server_error","error_description":"Internal error"}', "") == []
    # What the request carried may come back (an echoed value), and is not a leak.
    assert leaks("Scope not allowed for this client: SELECT ", "scope=SELECT ") == []


# --- regression tests for the bugs this fuzzer found ----------------------------------------------------
# Each was a 500; the minimal request is kept here as found (BUG-1..4 in the fuzzing report).


def test_regression_deeply_nested_claims_parameter(world: World) -> None:
    """BUG-1: json.loads(claims) raised RecursionError (not ValueError) in oauth/claims.py -> 500."""
    _, challenge = pkce_pair()
    url = world.authorize_url("web1p", challenge, claims="[" * 2000)
    world.http.cookies.clear()
    response = world.http.get(url, follow_redirects=False)
    assert response.status_code == 302, response.status_code
    assert "error=invalid_request" in response.headers["location"]


def test_regression_deeply_nested_client_assertion(world: World) -> None:
    """BUG-2: a client_assertion whose payload is "[" * 5000 raised RecursionError in
    oauth/client_auth.py _assertion_subject -> 500."""
    assertion = _seg(b'{"alg":"RS256"}') + "." + _seg(b"[" * 5000) + "." + _seg(b"sig")
    world.http.cookies.clear()
    response = world.http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 401, response.status_code
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("field", ["scope", "resource"])
@pytest.mark.parametrize("value", ["\u00e9", '"', "\x7f", "\x80"])
@pytest.mark.parametrize("endpoint", ["/token", "/device_authorization"])
def test_regression_scope_or_resource_outside_error_charset(
    world: World, endpoint: str, field: str, value: str
) -> None:
    """BUG-3: an unknown scope or resource was echoed into authlib's InvalidScopeError/InvalidTargetError,
    whose constructor raises ValueError for characters outside RFC 6749's error_description set -> 500."""
    if endpoint == "/token":
        c = world.clients["service"]
        data, headers = {"grant_type": "client_credentials"}, basic(c["client_id"], c["client_secret"])
    else:
        data, headers = {"client_id": world.clients["device"]["client_id"]}, {}
    world.http.cookies.clear()
    response = world.http.post(endpoint, data={**data, field: value}, headers=headers)
    assert response.status_code == 400, response.status_code
    assert response.json()["error"] == ("invalid_scope" if field == "scope" else "invalid_target")


@pytest.mark.parametrize("endpoint", ["/token", "/introspect", "/revoke", "/device_authorization"])
@pytest.mark.parametrize("how", ["basic", "assertion"])
def test_regression_nul_in_presented_client_id(world: World, endpoint: str, how: str) -> None:
    """BUG-4 (PostgreSQL): a NUL in the client_id of Basic credentials (a%00b) or of a client assertion's
    `sub` reached a query; psycopg raised DataError -> 500."""
    data: dict[str, str] = {"grant_type": "client_credentials", "token": "x"}
    headers: dict[str, str] = {}
    if how == "basic":
        headers = basic("a\x00b", "secret")
    else:
        data |= {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _unsigned({"alg": "RS256", "kid": "k"}, {"sub": "a\x00b"}),
        }
    world.http.cookies.clear()
    response = world.http.post(endpoint, data=data, headers=headers)
    assert response.status_code == 401, response.status_code
    assert response.json()["error"] == "invalid_client"
