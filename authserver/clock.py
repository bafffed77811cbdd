"""The clock that expiry decisions read: built once (services.py) and passed to whatever decides.

One decision reads it once: a code checked for expiry and then consumed is checked and consumed at
the same instant, and the page that creates a device code and the grant that redeems it agree on what
"now" is. Tests pass a clock they move instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    """Seconds since the epoch, as time.time() (looked up at each call)."""
    return time.time()
