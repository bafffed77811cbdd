"""Sending the browser back to the client: query redirect or form_post, always with `iss` (RFC 9207)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from authserver.services import Services


def to_client(
    svc: Services, redirect_uri: str, params: dict[str, str | None], response_mode: str, *, status: int = 303
) -> Response:
    values = {k: v for k, v in params.items() if v is not None}
    # RFC 9207 §2: iss in every authorization response, errors included (mix-up defence).
    values["iss"] = svc.settings.issuer
    if response_mode == "form_post":
        # OAuth 2.0 Form Post Response Mode: an auto-submitting form (script from our origin; CSP
        # forbids inline script) with a button for browsers without JavaScript.
        return svc.pages.render(
            "form_post.html",
            {"action": redirect_uri, "fields": sorted(values.items())},
            form_targets=[redirect_uri],
        )
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(values), status_code=status)


def error_to_client(
    svc: Services,
    redirect_uri: str,
    error: str,
    description: str | None,
    state: str | None,
    response_mode: str,
    *,
    status: int = 303,
) -> Response:
    return to_client(
        svc,
        redirect_uri,
        {"error": error, "error_description": description, "state": state},
        response_mode,
        status=status,
    )
