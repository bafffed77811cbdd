"""Outbound HTTP: POSTing a form to a client's endpoint (back-channel logout) and calling upstream identity
providers (discovery, keys, tokens, user info). The only outbound HTTP the server makes.

Every call goes through security/egress.py first, connects to the address that was checked, has a
short timeout, never follows a redirect and never reads proxy settings from the environment. Answers
read as JSON are capped in size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from authserver.delivery import DeliveryError
from authserver.security.egress import EgressPolicy, Unresolvable

USER_AGENT = "authserver-backchannel/1"
UPSTREAM_AGENT = "authserver-federation/1"
# Discovery documents, key sets, token and user-info answers are a few KiB; more is not an answer.
MAX_JSON_BYTES = 512 * 1024


@dataclass(frozen=True)
class JsonAnswer:
    status: int
    body: Any  # the parsed JSON, or None when the answer was not JSON


def _request(
    method: str,
    url: str,
    *,
    policy: EgressPolicy,
    timeout: float,
    agent: str,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    limit: int | None = None,
) -> tuple[int, bytes]:
    try:
        destination = policy.destination(url)
    except Unresolvable as exc:
        raise DeliveryError(str(exc)) from None
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
    sent = {**(headers or {}), "Host": destination.host_header, "User-Agent": agent}
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream(method, destination.pinned_url, data=form, headers=sent, extensions=extensions) as response,
        ):
            body = b""
            if limit is not None:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise DeliveryError(f"answer larger than {limit} bytes")
            return response.status_code, body
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"request failed: {type(exc).__name__}") from None


def post_form(url: str, form: dict[str, str], *, policy: EgressPolicy, timeout: float) -> int:
    """The response status; raises EgressRefused for a forbidden destination, DeliveryError when the
    request could not be made (refused connection, timeout, TLS failure)."""
    status, _ = _request("POST", url, policy=policy, timeout=timeout, agent=USER_AGENT, form=form)
    return status


def call_json(
    method: str,
    url: str,
    *,
    policy: EgressPolicy,
    timeout: float,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonAnswer:
    """GET or POST (a form) and read a JSON answer of at most MAX_JSON_BYTES; raises EgressRefused and
    DeliveryError as post_form does (and DeliveryError for an over-long answer)."""
    accept = {"Accept": "application/json", **(headers or {})}
    status, body = _request(
        method,
        url,
        policy=policy,
        timeout=timeout,
        agent=UPSTREAM_AGENT,
        form=form,
        headers=accept,
        limit=MAX_JSON_BYTES,
    )
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    return JsonAnswer(status, parsed)
