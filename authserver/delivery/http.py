"""POSTing a form to a client's endpoint (back-channel logout): the only outbound HTTP the server makes.

Every call goes through security/egress.py first, connects to the address that was checked, has a
short timeout, never follows a redirect and never reads proxy settings from the environment.
"""

from __future__ import annotations

import httpx

from authserver.delivery import DeliveryError
from authserver.security.egress import EgressPolicy, Unresolvable

USER_AGENT = "authserver-backchannel/1"


def post_form(url: str, form: dict[str, str], *, policy: EgressPolicy, timeout: float) -> int:
    """The response status; raises EgressRefused for a forbidden destination, DeliveryError when the
    request could not be made (refused connection, timeout, TLS failure)."""
    try:
        destination = policy.destination(url)
    except Unresolvable as exc:
        raise DeliveryError(str(exc)) from None
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.post(
                destination.pinned_url,
                data=form,
                headers={"Host": destination.host_header, "User-Agent": USER_AGENT},
                extensions=extensions,
            )
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"request failed: {type(exc).__name__}") from None
    return response.status_code
