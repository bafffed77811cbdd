"""The known-device cookie: proof that this browser signed in to an account before.

It lets the browser past the account-wide lock of the throttle (security/throttle.py), so an attacker
guessing from many addresses cannot lock the owner out of their own account; it does not lift the
lock of the browser's own address. The cookie (`as_device`: HttpOnly, SameSite=Lax, Secure and
`__Host-` under https) holds up to MAX_ACCOUNTS marks, one per account, each `<issued>-<tag>` with
tag = HMAC-SHA-256(key derived from the server secret, account id and issue time): it names no
account, cannot be forged or moved to another account, and dies after `known_device_ttl`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from authserver.security.derive import derive_key
from authserver.settings import Settings
from authserver.web.cookies import cookie_name, set_cookie

COOKIE = "as_device"
MAX_ACCOUNTS = 5
_SEPARATOR = "~"


def _tag(settings: Settings, user_id: str, issued: int) -> str:
    key = derive_key(settings.secret_bytes(), "known-device")
    mac = hmac.new(key, f"{user_id}|{issued}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def cookie_value(request: Request, settings: Settings) -> str:
    return request.cookies.get(cookie_name(settings, COOKIE)) or ""


def _marks(raw: str) -> list[tuple[int, str]]:
    marks = []
    for part in raw[:1000].split(_SEPARATOR)[:MAX_ACCOUNTS]:
        issued, _, tag = part.partition("-")
        if issued.isascii() and issued.isdigit() and len(issued) <= 12 and tag:
            marks.append((int(issued), tag))
    return marks


def _mark_of(settings: Settings, marks: list[tuple[int, str]], user_id: str, now: int) -> tuple[int, str] | None:
    for issued, tag in marks:
        if now - settings.known_device_ttl < issued <= now + 60 and hmac.compare_digest(
            tag, _tag(settings, user_id, issued)
        ):
            return issued, tag
    return None


def is_known(settings: Settings, raw: str, user_id: str, now: int) -> bool:
    """The cookie value `raw` carries a valid, unexpired mark for the account."""
    return _mark_of(settings, _marks(raw), user_id, now) is not None


def remember(request: Request, response: Response, settings: Settings, user_id: str, now: int) -> None:
    """After a complete sign-in: (re)issue this account's mark, first in line, keeping the others."""
    marks = _marks(cookie_value(request, settings))
    mine = _mark_of(settings, marks, user_id, now)
    others = [m for m in marks if m != mine and now - settings.known_device_ttl < m[0] <= now + 60]
    kept = [(now, _tag(settings, user_id, now)), *others][:MAX_ACCOUNTS]
    value = _SEPARATOR.join(f"{issued}-{tag}" for issued, tag in kept)
    set_cookie(response, settings, COOKIE, value, settings.known_device_ttl)
