"""Malformed requests get RFC 6749 JSON errors with the right status, never a 500."""

from __future__ import annotations

import pytest

from tests.helpers import basic

ENDPOINTS = ["/token", "/introspect", "/revoke"]


@pytest.fixture
def auth(register):
    client = register()
    return basic(client["client_id"], client["client_secret"])


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", None])
def test_wrong_content_type_is_invalid_request(http, auth, path, content_type):
    headers = dict(auth)
    if content_type:
        headers["content-type"] = content_type
    response = http.post(path, content=b'{"grant_type":"client_credentials"}', headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "Content-Type" in response.json()["error_description"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_repeated_parameter_is_invalid_request(http, auth, path):
    response = http.post(
        path,
        content="grant_type=client_credentials&grant_type=client_credentials&token=a&token=b",
        headers={**auth, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "repeated" in response.json()["error_description"]


@pytest.mark.parametrize(
    "body", [b"grant_type=%ff%fe", b"\xff\xfe=1", b"token=a%00b", b"&".join([b"a%d=1" % i for i in range(200)])]
)
@pytest.mark.parametrize("path", ENDPOINTS)
def test_undecodable_or_hostile_bodies_are_invalid_request(http, auth, path, body):
    response = http.post(path, content=body, headers={**auth, "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_oversized_body_is_413(make_app, auth, path):
    http = make_app(max_body_bytes=2048)
    response = http.post(
        path, content=b"token=" + b"a" * 4096, headers={**auth, "content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


def test_oversized_chunked_body_is_413(make_app, auth):
    http = make_app(max_body_bytes=2048)

    def chunks():
        for _ in range(10):
            yield b"a" * 1024

    response = http.post(
        "/token", content=chunks(), headers={**auth, "content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize("path", ENDPOINTS)
def test_get_is_405_json(http, path):
    response = http.get(path)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_api_responses_carry_security_headers_and_a_request_id(http):
    response = http.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    # A hostile request id is replaced, not echoed.
    response = http.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert response.headers["x-request-id"] != "bad id\twith junk"
    assert response.headers["x-request-id"]


def test_healthz_and_readyz(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}
