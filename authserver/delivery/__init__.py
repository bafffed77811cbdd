"""Delivery of outbox messages to the outside world: email (delivery/smtp.py) and back-channel logout
calls (delivery/http.py).

A sender raises DeliveryError; `permanent` says whether trying again can help (an address the mail
server refuses for good) or not (an outage, a temporary refusal: retried until delivered); `final`
gives up at once (a message past its time limit, a destination that may not be called).
"""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, final: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.final = final
