"""Delivery of outbox messages to the outside world: email today (delivery/smtp.py).

A sender raises DeliveryError; `permanent` says whether trying again can help (an address the mail
server refuses for good) or not (an outage, a temporary refusal: retried until delivered).
"""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
