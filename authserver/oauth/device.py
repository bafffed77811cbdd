"""RFC 8628 device authorization: the device's request (§3.1-3.2) and the user codes.

User codes are 8 characters from 20 consonants without look-alikes (§6.1), shown as XXXX-XXXX and
accepted in any case, with or without the dash or spaces. Entropy (§5.1): 20^8 ≈ 2.6e10 codes
(34.5 bits). With at most `device_guess_limit` wrong entries per IP address and per account every
`device_guess_window` seconds, and codes living `device_code_ttl` (10 min), an attacker guessing
against even 1,000 live codes from 1,000 addresses has about a 1 in 2.6 million chance per window.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError, UnauthorizedClientError

from authserver.domain import ACR_MFA, ACR_PASSWORD, AUTH_METHODS, GRANT_DEVICE_CODE, DeviceCode
from authserver.oauth import scopes as scope_rules
from authserver.oauth.requests import OAuthRequest
from authserver.security.secrets import token_hash
from authserver.store import DuplicateError

if TYPE_CHECKING:
    from authserver.oauth.server import AuthorizationServer

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
ACRS = (ACR_PASSWORD, ACR_MFA)
USER_CODE_LENGTH = 8


def new_user_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(USER_CODE_LENGTH))


def display(user_code: str) -> str:
    return f"{user_code[:4]}-{user_code[4:]}"


def normalise(entered: str) -> str | None:
    """`bcdf-ghjk`, `BCDF GHJK` and `bcdfghjk` are the same code; anything else is no code."""
    # Any whitespace (no-break, ideographic) and any dash a keyboard or a paste may produce.
    cleaned = "".join(ch for ch in entered.upper() if not ch.isspace() and unicodedata.category(ch) != "Pd")
    if len(cleaned) != USER_CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def device_authorization(
    server: AuthorizationServer, request: OAuthRequest
) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    client = server.authenticate_client(request, AUTH_METHODS, "device_authorization")
    record = client.record
    if GRANT_DEVICE_CODE not in record.grant_types:
        raise UnauthorizedClientError("This client may not use the device authorization grant")
    scope = scope_rules.granted_scope(record, request.form.get("scope"))
    if not scope:
        raise InvalidRequestError("This client has no scopes to request")
    # As at /authorize (OIDC Core §3.1.2.1): the requested authentication context; values this server
    # does not offer are ignored. The approval page steps up to a second factor for ACR_MFA.
    acr_values = tuple(v for v in dict.fromkeys((request.form.get("acr_values") or "").split()) if v in ACRS)
    resources = request.payload.datalist.get("resource", [])
    scope_rules.audience(record, resources)  # validates them (invalid_target)
    settings = server.settings
    now = int(server.clock())
    device_code = secrets.token_urlsafe(32)
    for _ in range(5):  # a collision among live user codes is rare; draw again when it happens
        user_code = new_user_code()
        try:
            server.store.add_device_code(
                DeviceCode(
                    device_code_hash=token_hash(device_code),
                    user_code=user_code,
                    client_id=record.client_id,
                    scope=scope,
                    resources=tuple(dict.fromkeys(resources)),
                    status="pending",
                    interval=settings.device_poll_interval,
                    created_at=now,
                    expires_at=now + settings.device_code_ttl,
                    acr_values=acr_values,
                )
            )
            break
        except DuplicateError:
            continue
    else:  # pragma: no cover - 5 collisions in a row means something else is wrong
        raise RuntimeError("could not allocate a user code")
    server.events.emit("device_code.issued", client_id=record.client_id)
    verification_uri = f"{settings.issuer}/device"
    body = {
        "device_code": device_code,
        "user_code": display(user_code),
        "verification_uri": verification_uri,
        "verification_uri_complete": f"{verification_uri}?user_code={display(user_code)}",
        "expires_in": settings.device_code_ttl,
        "interval": settings.device_poll_interval,
    }
    return 200, body, [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
