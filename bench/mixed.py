"""The mixed scenario's load generator: threads of httpx clients in separate processes.

bench/run.py starts `processes` of these (multiprocessing, spawn) with `run_process`. Each process
runs `threads` threads; each thread repeatedly picks one operation by weight:

  signin              a complete sign-in with PKCE (S256), as a new browser (no cookies):
                        GET /authorize            -> 302 to /login?interaction=...  (sets the CSRF cookie)
                        GET /login?interaction=.. -> 200, the login form            ("login:page")
                        POST /login               -> 303 to the redirect URI with ?code=&state=&iss=
                                                     (a first-party client: no consent step)
                        POST /token               authorization_code + code_verifier
                      the new refresh token replaces the thread's previous one
  refresh             POST /token grant_type=refresh_token with the thread's newest refresh token
                      (rotation: the answer's refresh token is used next time)
  client_credentials  POST /token grant_type=client_credentials (the confidential bench client)
  introspect          POST /introspect of the thread's newest access token, asked by the client it was issued to

Protocol with the parent: each thread first signs in once (so it holds a refresh token) and runs the
mix for `warmup` seconds unrecorded; then the process puts ("ready", pid) on `ready`, waits for the
`start` event, runs the mix for `duration` seconds recording every request, and puts its results on
`results`: per endpoint the latencies (ms) and errors, plus its own CPU time while measuring.

An error is a transport failure (connection refused, timeout) or an answer other than the expected
one (status, Location, `active: true`, ...). A failed step ends that sign-in; a failed refresh drops
the thread's refresh token and the next refresh signs in first (recorded as a sign-in).
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import secrets
import threading
import time
import traceback
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

OPERATIONS = ("signin", "refresh", "client_credentials", "introspect")
# Endpoint rows of the report, in order. "signin" is the whole sign-in (four requests) end to end.
ENDPOINTS = (
    "authorize",
    "login:page",
    "login",
    "token:authorization_code",
    "token:refresh_token",
    "token:client_credentials",
    "introspect",
)
MAX_SAMPLES = 5
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
_TAG = re.compile(r"<[^>]*>")


def _summary(text: str) -> str:
    """The start of an answer's body; for an HTML page, its visible text from <body> on."""
    if "<html" in text[:200].lower():
        body = text[text.lower().find("<body") :] if "<body" in text.lower() else text
        body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", body)
        text = "[page] " + _TAG.sub(" ", body)
    return " ".join(text.split())[:160]


class StepFailed(Exception):
    """An answer that is not the expected one; already recorded as an error."""


class Stats:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {name: [] for name in (*ENDPOINTS, "signin")}
        self.errors: dict[str, dict[str, int]] = {name: {} for name in (*ENDPOINTS, "signin")}
        self.samples: dict[str, list[str]] = {name: [] for name in (*ENDPOINTS, "signin")}
        self.ops: dict[str, int] = dict.fromkeys(OPERATIONS, 0)

    def ok(self, name: str, ms: float) -> None:
        self.latencies[name].append(ms)

    def error(self, name: str, kind: str, sample: str, ms: float | None = None) -> None:
        # An answered request counts in the latencies too (its time was spent); a transport failure not.
        if ms is not None:
            self.latencies[name].append(ms)
        self.errors[name][kind] = self.errors[name].get(kind, 0) + 1
        if len(self.samples[name]) < MAX_SAMPLES and sample not in self.samples[name]:
            self.samples[name].append(sample)

    def merge(self, other: Stats) -> None:
        for name in self.latencies:
            self.latencies[name].extend(other.latencies[name])
            for kind, n in other.errors[name].items():
                self.errors[name][kind] = self.errors[name].get(kind, 0) + n
            for s in other.samples[name]:
                if len(self.samples[name]) < MAX_SAMPLES and s not in self.samples[name]:
                    self.samples[name].append(s)
        for op, n in other.ops.items():
            self.ops[op] += n

    def as_dict(self) -> dict:
        return {"latencies_ms": self.latencies, "errors": self.errors, "samples": self.samples, "ops": self.ops}


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class User:
    """One thread: a browser (cookies cleared for each sign-in) and an API client (no cookies kept)."""

    def __init__(self, cfg: dict, seed: int) -> None:
        import httpx

        self.httpx = httpx
        self.cfg = cfg
        self.base = cfg["base"]
        self.rng = random.Random(seed)
        timeout = httpx.Timeout(cfg.get("timeout_s", 10.0))
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.browser = httpx.Client(base_url=self.base, timeout=timeout, limits=limits, follow_redirects=False)
        self.api = httpx.Client(base_url=self.base, timeout=timeout, limits=limits, follow_redirects=False)
        self.signin_auth = _basic(cfg["signin_client_id"], cfg["signin_client_secret"])
        self.cc_auth = _basic(cfg["cc_client_id"], cfg["cc_client_secret"])
        self.refresh_token: str | None = None
        self.access_token: str | None = None
        # Whose token it is: a client may introspect only its own tokens and those of audiences it is the
        # resource server of (README, "Introspection and audiences"), so each is asked by its own client.
        self.access_token_auth: str | None = None
        self.stats = Stats()

    def close(self) -> None:
        self.browser.close()
        self.api.close()

    # One request, timed and checked. Returns the response; raises StepFailed (recorded) otherwise.
    def _call(self, name: str, client, method: str, url: str, expect: tuple[int, ...], **kwargs):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            response = client.request(method, url, **kwargs)
        except self.httpx.HTTPError as exc:
            self.stats.error(name, "transport", f"{type(exc).__name__}: {str(exc)[:120]}")
            raise StepFailed from None
        ms = (time.perf_counter() - began) * 1000
        if response.status_code not in expect:
            body = _summary(response.text)
            self.stats.error(name, f"status {response.status_code}", f"{response.status_code} {body}", ms)
            raise StepFailed
        return response, ms

    def _bad(self, name: str, ms: float, what: str) -> None:
        self.stats.error(name, "unexpected answer", what[:200], ms)
        raise StepFailed

    def _json(self, name: str, response, ms: float) -> dict:  # type: ignore[no-untyped-def]
        try:
            return response.json()
        except ValueError:
            self._bad(name, ms, f"not JSON: {response.text[:120]}")
            raise  # unreachable

    def _take_tokens(self, name: str, body: dict, ms: float, *, refresh: bool) -> None:
        if not body.get("access_token") or (refresh and not body.get("refresh_token")):
            self._bad(name, ms, f"tokens missing: {sorted(body)}")
        self.access_token = body["access_token"]
        self.access_token_auth = self.signin_auth if refresh else self.cc_auth
        if refresh:
            self.refresh_token = body["refresh_token"]

    # ------------------------------------------------------------------------------ operations

    def signin(self) -> None:
        cfg = self.cfg
        self.browser.cookies.clear()  # a new browser: no session, so the login step is needed
        began = time.perf_counter()
        verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-] (RFC 7636 §4.1)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": cfg["signin_client_id"],
                "redirect_uri": cfg["redirect_uri"],
                "scope": cfg["scope"],
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        try:
            response, ms = self._call("authorize", self.browser, "GET", "/authorize?" + query, (302, 303))
            location = urljoin(self.base + "/", response.headers.get("location", ""))
            if urlsplit(location).path != "/login":
                self._bad("authorize", ms, f"redirected to {location[:150]}")
            self.stats.ok("authorize", ms)
            interaction = parse_qs(urlsplit(location).query).get("interaction", [""])[0]

            response, ms = self._call("login:page", self.browser, "GET", location, (200,))
            match = _CSRF_FIELD.search(response.text)
            if not match or not interaction:
                self._bad("login:page", ms, "no csrf_token field or interaction id in the login page")
            self.stats.ok("login:page", ms)

            form = {
                "csrf_token": match.group(1),
                "interaction": interaction,  # type: ignore[union-attr]
                "username": cfg["username"],
                "password": cfg["password"],
            }
            response, ms = self._call("login", self.browser, "POST", "/login", (302, 303), data=form)
            location = response.headers.get("location", "")
            params = parse_qs(urlsplit(location).query)
            if (
                not location.startswith(cfg["redirect_uri"] + "?")
                or params.get("state") != [state]
                or not params.get("code")
            ):
                self._bad("login", ms, f"redirected to {location[:150]}")
            self.stats.ok("login", ms)

            data = {
                "grant_type": "authorization_code",
                "code": params["code"][0],
                "redirect_uri": cfg["redirect_uri"],
                "code_verifier": verifier,
            }
            response, ms = self._call(
                "token:authorization_code",
                self.api,
                "POST",
                "/token",
                (200,),
                data=data,
                headers={**FORM, "Authorization": self.signin_auth},
            )
            body = self._json("token:authorization_code", response, ms)
            if not body.get("id_token"):
                self._bad("token:authorization_code", ms, "no id_token")
            self._take_tokens("token:authorization_code", body, ms, refresh=True)
            self.stats.ok("token:authorization_code", ms)
        except StepFailed:
            self.stats.error("signin", "failed step", "see the failed step's row", None)
            return
        self.stats.ok("signin", (time.perf_counter() - began) * 1000)

    def refresh(self) -> None:
        if self.refresh_token is None:  # the last refresh failed: sign in again instead
            self.stats.ops["refresh"] -= 1
            self.stats.ops["signin"] += 1
            self.signin()
            return
        data = {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        self.refresh_token = None  # used now: whatever happens, never presented again
        try:
            response, ms = self._call(
                "token:refresh_token",
                self.api,
                "POST",
                "/token",
                (200,),
                data=data,
                headers={**FORM, "Authorization": self.signin_auth},
            )
            self._take_tokens("token:refresh_token", self._json("token:refresh_token", response, ms), ms, refresh=True)
            self.stats.ok("token:refresh_token", ms)
        except StepFailed:
            pass

    def client_credentials(self) -> None:
        try:
            response, ms = self._call(
                "token:client_credentials",
                self.api,
                "POST",
                "/token",
                (200,),
                data={"grant_type": "client_credentials"},
                headers={**FORM, "Authorization": self.cc_auth},
            )
            self._take_tokens(
                "token:client_credentials", self._json("token:client_credentials", response, ms), ms, refresh=False
            )
            self.stats.ok("token:client_credentials", ms)
        except StepFailed:
            pass

    def introspect(self) -> None:
        if self.access_token is None:  # not reached: the first sign-in left one
            self.stats.ops["introspect"] -= 1
            self.stats.ops["client_credentials"] += 1
            self.client_credentials()
            return
        try:
            response, ms = self._call(
                "introspect",
                self.api,
                "POST",
                "/introspect",
                (200,),
                data={"token": self.access_token},
                headers={**FORM, "Authorization": self.access_token_auth or self.cc_auth},
            )
            if self._json("introspect", response, ms).get("active") is not True:
                self._bad("introspect", ms, f"not active: {response.text[:120]}")
            self.stats.ok("introspect", ms)
        except StepFailed:
            pass

    def run_mix(self, seconds: float) -> None:
        names = list(self.cfg["weights"])
        weights = [self.cfg["weights"][n] for n in names]
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            op = self.rng.choices(names, weights)[0]
            self.stats.ops[op] += 1
            getattr(self, op)()


def _thread(cfg: dict, seed: int, barrier: threading.Barrier, go: threading.Event, out: list, index: int) -> None:
    user = None
    try:
        user = User(cfg, seed)
        user.signin()  # holds a refresh token and an access token from the start
        if user.refresh_token is None:
            out[index] = {
                "prime_error": next(
                    (s for v in user.stats.samples.values() for s in v if not s.startswith("see ")),
                    "the first sign-in failed",
                )
            }
            barrier.abort()
            return
        if cfg["warmup"] > 0:
            user.run_mix(cfg["warmup"])
        user.stats = Stats()  # warm-up is not recorded
        barrier.wait()
        go.wait()
        user.run_mix(cfg["duration"])
        out[index] = {"stats": user.stats, "finished": time.perf_counter()}
    except threading.BrokenBarrierError:
        out[index] = out[index] or {"aborted": True}
    except Exception:
        out[index] = {"crash": traceback.format_exc()}
        barrier.abort()
    finally:
        if user is not None:
            user.close()


def run_process(cfg: dict, index: int, ready, start, results) -> None:  # type: ignore[no-untyped-def]
    """Entry point of one load-generator process (multiprocessing, spawn)."""
    threads = int(cfg["threads"])
    barrier = threading.Barrier(threads + 1)
    go = threading.Event()
    out: list = [None] * threads
    workers = [
        threading.Thread(target=_thread, args=(cfg, (index << 16) + i + os.getpid(), barrier, go, out, i), daemon=True)
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    try:
        barrier.wait(timeout=cfg["warmup"] + 120)
    except threading.BrokenBarrierError:
        for w in workers:
            w.join(timeout=30)
        problems = [o for o in out if o and ("prime_error" in o or "crash" in o)]
        ready.put(("failed", os.getpid(), problems or [{"crash": "the threads did not get ready in time"}]))
        return
    ready.put(("ready", os.getpid(), None))
    if not start.wait(timeout=300):
        go.set()
        return
    began, cpu_began = time.perf_counter(), time.process_time()
    go.set()
    for w in workers:
        w.join(timeout=cfg["duration"] + 60)
    cpu = time.process_time() - cpu_began
    total = Stats()
    crashes = []
    finished = began
    for o in out:
        if o and "stats" in o:
            total.merge(o["stats"])
            finished = max(finished, o["finished"])
        else:
            crashes.append((o or {}).get("crash", "a thread did not finish"))
    results.put(
        {"pid": os.getpid(), "elapsed_s": finished - began, "cpu_s": cpu, "crashes": crashes, **total.as_dict()}
    )
