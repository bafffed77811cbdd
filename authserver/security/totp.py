"""TOTP (RFC 6238): 6 digits, 30-second steps, HMAC-SHA-1 — what authenticator apps implement.

A code is accepted for the current step or one step either side (clock drift, RFC 6238 §5.2), and
only once: the caller records the accepted step and refuses any step not newer than it.
"""

from __future__ import annotations

import hmac

import pyotp
import segno

DIGITS = 6
PERIOD = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 §4 recommends


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str, title: str = "QR code for your authenticator app") -> str:
    # Inline SVG (no data: URL, no script), with a title for screen readers (in the page's language).
    # omitsize: a viewBox instead of a fixed width/height, so CSS can scale it without cropping.
    return segno.make(uri, error="m").svg_inline(scale=5, border=2, omitsize=True, title=title)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code equals `code`, or None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = int(now // PERIOD)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate in constant time; do not stop at the first match.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found
