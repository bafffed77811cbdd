"""OpenID Connect Back-Channel Logout 1.0 through HTTP: logout tokens POSTed to a real receiver the
test starts, from the outbox, with retries while it is down."""

from __future__ import annotations

import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers import exchange, jwt_parts, sign_in
from tests.pages import account_post, account_sign_in, browser_from
from tests.server import free_port

EVENT = "http://schemas.openid.net/event/backchannel-logout"
REDIRECT = "https://app.example/cb"


class Receiver:
    """An RP's back-channel logout endpoint on 127.0.0.1: records each POST, answers `status`."""

    def __init__(self, port: int | None = None, status: int = 200, delay: float = 0, location: str | None = None):
        self.requests: queue.Queue[dict] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                receiver.requests.put(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "form": {k: v[0] for k, v in parse_qs(body).items()},
                    }
                )
                time.sleep(delay)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/backchannel"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 30) -> dict:
        return self.requests.get(timeout=timeout)

    def nothing_within(self, seconds: float) -> bool:
        try:
            self.requests.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def http(make_app):  # type: ignore[no-untyped-def]
    # Retries come quickly, and the loop looks for due messages often (tests wait for arrivals, not expiry).
    return make_app(mail_retry_seconds=1, mail_poll_seconds=0.2, backchannel_logout_timeout=2)


def rp(register, uri: str | None, *extra: str, name: str = "rp") -> dict:  # type: ignore[no-untyped-def]
    args = ["--grant-type", "authorization_code", "--redirect-uri", REDIRECT, *extra]
    if uri:
        args += ["--backchannel-logout-uri", uri]
    return register(*args, name=name)


def signed_in(http, client: dict) -> dict:  # type: ignore[no-untyped-def]
    """Sign alice in to `client`; the token response (its ID token carries the session's sid)."""
    callback, verifier, _ = sign_in(http, client)
    response = exchange(http, client, callback["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()


def logout(http, id_token: str):  # type: ignore[no-untyped-def]
    return http.get("/logout?" + urlencode({"id_token_hint": id_token}), follow_redirects=False)


def verified(http, token: str) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    return decoded.header, decoded.claims


def audit(cli, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e for e in cli("audit", "list", "--json").json() if e["event"] == name]


def wait_for(predicate, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_rp_initiated_logout_sends_a_logout_token(http, register, alice, receiver, cli):
    client = rp(register, receiver.url)
    tokens = signed_in(http, client)
    _, id_claims = jwt_parts(tokens["id_token"])
    assert logout(http, tokens["id_token"]).status_code == 200

    posted = receiver.next()
    assert posted["path"] == "/backchannel"
    assert posted["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    header, claims = verified(http, posted["form"]["logout_token"])
    # Back-Channel Logout §2.4: typ logout+jwt; iss, aud, iat, exp, jti, sub and sid, events; no nonce.
    assert header["typ"] == "logout+jwt"
    assert header["alg"] == "RS256"
    assert claims["iss"] == "http://testserver"
    assert claims["aud"] == client["client_id"]
    assert claims["sub"] == alice["id"]
    assert claims["sid"] == id_claims["sid"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert claims["iat"] <= time.time() <= claims["exp"] <= claims["iat"] + 300
    assert claims["jti"]
    wait_for(lambda: audit(cli, "backchannel_logout.delivered"))
    assert audit(cli, "backchannel_logout.queued")[0]["client_id"] == client["client_id"]


def test_only_clients_of_the_session_with_a_uri_are_told(http, register, alice, receiver):
    other = Receiver()
    try:
        used = rp(register, receiver.url, name="used")
        rp(register, other.url, name="never-signed-in")
        silent = rp(register, None, name="no-uri")
        tokens = signed_in(http, used)
        signed_in(http, silent)
        logout(http, tokens["id_token"])
        _, claims = verified(http, receiver.next()["form"]["logout_token"])
        assert claims["aud"] == used["client_id"]
        assert other.nothing_within(1.5)
        assert receiver.nothing_within(0.5)  # one notice per client and session
    finally:
        other.stop()


def test_every_client_of_the_session_is_told(http, register, alice, receiver):
    first = rp(register, receiver.url + "?rp=1", name="first")
    second = rp(register, receiver.url + "?rp=2", "--backchannel-logout-session-required", name="second")
    tokens = signed_in(http, first)
    signed_in(http, second)
    logout(http, tokens["id_token"])
    got = {}
    for _ in range(2):
        posted = receiver.next()
        _, claims = verified(http, posted["form"]["logout_token"])
        got[posted["path"]] = claims
    assert {c["aud"] for c in got.values()} == {first["client_id"], second["client_id"]}
    assert len({c["sid"] for c in got.values()}) == 1
    assert len({c["jti"] for c in got.values()}) == 2


def test_signing_out_on_the_account_page(http, register, alice, receiver):
    client = rp(register, receiver.url)
    account_sign_in(http)
    other = browser_from(http)
    tokens = signed_in(other, client)
    _, id_claims = jwt_parts(tokens["id_token"])
    assert account_post(http, "/account/sessions/end-others").status_code == 303
    _, claims = verified(http, receiver.next()["form"]["logout_token"])
    assert claims["sid"] == id_claims["sid"]


def test_administrator_signs_a_user_out(http, register, alice, receiver, cli):
    client = rp(register, receiver.url)
    tokens = signed_in(http, client)
    result = cli("user", "sign-out", "alice", "--json")
    assert result.code == 0, result.err
    assert result.json()["sessions_ended"] == 1
    _, claims = verified(http, receiver.next()["form"]["logout_token"])
    assert claims["sid"] == jwt_parts(tokens["id_token"])[1]["sid"]
    assert http.get("/account", follow_redirects=False).status_code == 303  # the browser is signed out
    assert audit(cli, "session.revoked")


def test_receiver_down_then_up_gets_it_on_a_retry(http, register, alice, cli):
    port = free_port()
    client = rp(register, f"http://127.0.0.1:{port}/backchannel")
    tokens = signed_in(http, client)
    logout(http, tokens["id_token"])
    failed = wait_for(lambda: audit(cli, "backchannel_logout.failed"))
    assert "request failed" in failed[0]["data"]["error"]
    receiver = Receiver(port)
    try:
        _, claims = verified(http, receiver.next()["form"]["logout_token"])
        assert claims["aud"] == client["client_id"]
        wait_for(lambda: audit(cli, "backchannel_logout.delivered"))
    finally:
        receiver.stop()


def test_an_error_answer_is_retried_then_given_up(make_app, register, alice, cli):
    http = make_app(mail_retry_seconds=1, mail_poll_seconds=0.2, mail_max_attempts=2)
    refusing = Receiver(status=400)
    try:
        client = rp(register, refusing.url)
        logout(http, signed_in(http, client)["id_token"])
        refusing.next()
        refusing.next()  # retried once ...
        assert refusing.nothing_within(3)  # ... then given up (mail_max_attempts=2)
        failures = audit(cli, "backchannel_logout.failed")
        assert [f["data"]["status"] for f in failures] == [400, 400]
    finally:
        refusing.stop()


def test_redirects_are_not_followed(http, register, alice, cli):
    elsewhere = Receiver()
    redirecting = Receiver(status=302, location=elsewhere.url)
    try:
        client = rp(register, redirecting.url)
        logout(http, signed_in(http, client)["id_token"])
        redirecting.next()
        assert elsewhere.nothing_within(1.5)
        assert wait_for(lambda: audit(cli, "backchannel_logout.failed"))[0]["data"]["status"] == 302
    finally:
        redirecting.stop()
        elsewhere.stop()


def test_a_slow_receiver_times_out(make_app, register, alice, cli):
    http = make_app(mail_retry_seconds=60, mail_poll_seconds=0.2, backchannel_logout_timeout=1)
    slow = Receiver(delay=3)
    try:
        client = rp(register, slow.url)
        logout(http, signed_in(http, client)["id_token"])
        failed = wait_for(lambda: audit(cli, "backchannel_logout.failed"))
        assert "no answer within 1 s" in failed[0]["data"]["error"]
    finally:
        slow.stop()


def test_notices_are_abandoned_after_the_time_limit(http, register, alice, cli, clock):
    port = free_port()  # nobody listens: every attempt fails
    client = rp(register, f"http://127.0.0.1:{port}/backchannel")
    logout(http, signed_in(http, client)["id_token"])
    wait_for(lambda: audit(cli, "backchannel_logout.failed"))
    clock.advance(3601)  # past AUTHSERVER_BACKCHANNEL_LOGOUT_MAX_AGE on the app's clock
    abandoned = wait_for(lambda: audit(cli, "backchannel_logout.abandoned"))
    assert abandoned[0]["data"]["reason"] == "time limit"


def test_discovery_advertises_back_channel_logout(http):
    meta = http.get("/.well-known/openid-configuration").json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://rp.example/bc", "https"),
        ("https://rp.example/bc#frag", "fragment"),
        ("javascript:alert(1)", "scheme"),
        ("ftp://rp.example/bc", "https"),
    ],
)
def test_cli_refuses_bad_backchannel_uris(cli, uri, message):
    result = cli(
        "client",
        "create",
        "--name",
        "x",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--backchannel-logout-uri",
        uri,
    )
    assert result.code != 0
    assert message in result.err


def test_cli_backchannel_rules(cli, register):
    service = cli("client", "create", "--name", "svc", "--backchannel-logout-uri", "https://rp.example/bc")
    assert service.code != 0
    lonely = cli(
        "client",
        "create",
        "--name",
        "x",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--backchannel-logout-session-required",
    )
    assert lonely.code != 0
    client = rp(register, "https://rp.example/bc", "--backchannel-logout-session-required")
    assert client["backchannel_logout_uri"] == "https://rp.example/bc"
    assert client["backchannel_logout_session_required"] is True


def test_a_logout_token_is_never_accepted_as_an_id_token_hint(http, register, alice, receiver):
    client = rp(register, receiver.url)
    logout(http, signed_in(http, client)["id_token"])
    logout_token = receiver.next()["form"]["logout_token"]
    from tests.helpers import authorize, authorize_params, pkce_pair, query

    response = authorize(http, authorize_params(client, pkce_pair()[1], id_token_hint=logout_token))
    assert response.status_code == 302
    assert query(response.headers["location"])["error"] == "invalid_request"


def test_a_disabled_client_is_not_told(http, register, alice, receiver, cli):
    client = rp(register, receiver.url)
    tokens = signed_in(http, client)
    assert cli("client", "disable", client["client_id"]).code == 0
    logout(http, tokens["id_token"])
    assert receiver.nothing_within(1.5)
