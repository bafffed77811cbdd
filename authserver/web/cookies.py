"""Browser cookies: HttpOnly, SameSite=Lax, Secure (and the __Host- prefix) when the issuer is https."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from authserver.i18n import N_
from authserver.settings import Settings
from authserver.web.pages import PageError


def cookie_name(settings: Settings, base: str) -> str:
    # __Host- pins the cookie to this exact host and path / (RFC 6265bis §4.1.3.2); it requires Secure.
    return f"__Host-{base}" if settings.secure_cookies else base


def set_cookie(response: Response, settings: Settings, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        cookie_name(settings, base),
        value,
        max_age=max_age,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, settings: Settings, base: str) -> None:
    response.delete_cookie(
        cookie_name(settings, base), path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
    )


CSRF = "as_csrf"


def csrf_token(request: Request, settings: Settings) -> str:
    """This browser's CSRF token (double-submit: a cookie the form must echo), made on first use."""
    existing = request.cookies.get(cookie_name(settings, CSRF))
    if existing and 20 <= len(existing) <= 100:
        return existing
    token = request.scope.setdefault("state", {}).get("new_csrf") or secrets.token_urlsafe(32)
    request.scope["state"]["new_csrf"] = token
    return token


def attach_csrf(request: Request, response: Response, settings: Settings) -> None:
    new = request.scope.get("state", {}).get("new_csrf")
    if new:
        set_cookie(response, settings, CSRF, new, None)


def check_csrf(request: Request, settings: Settings, form: dict[str, str]) -> None:
    cookie = request.cookies.get(cookie_name(settings, CSRF)) or ""
    sent = form.get("csrf_token") or ""
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise PageError(
            N_("This form has expired or was not sent by this site. Go back, reload and try again."),
            status_code=403,
            title=N_("Please try again"),
        )


def browser_binding(token: str) -> str:
    """A value tying server-side state to this browser without storing its cookie."""
    return hashlib.sha256(b"browser:" + token.encode()).hexdigest()
