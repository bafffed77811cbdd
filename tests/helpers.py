"""Small helpers for tests that speak HTTP like a client would."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from starlette.testclient import TestClient


def basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 §2.3.1: each part is form-urlencoded before base64.
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def client_token(http: TestClient, client: dict, **form: str) -> dict:
    response = http.post(
        "/token", data={"grant_type": "client_credentials", **form},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def jwt_parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")

    def decode(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    return decode(header), decode(payload)
