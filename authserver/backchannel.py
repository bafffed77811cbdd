"""OpenID Connect Back-Channel Logout 1.0: when a browser session ends, every client that signed in
through it and registered a backchannel_logout_uri is sent a logout token, server to server.

The notices are written to the outbox in the same transaction that forgets the session's clients,
and delivered by the outbox runner (jobs/outbox.py) off the request path: retried with back-off
while the receiver is down, for at most AUTHSERVER_BACKCHANNEL_LOGOUT_MAX_AGE, every outcome audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from authserver.audit import Events
from authserver.clock import Clock
from authserver.delivery import DeliveryError
from authserver.delivery.http import post_form
from authserver.domain import BrowserSession, Client, OutboxMessage
from authserver.outbox import Outbox
from authserver.security.egress import EgressPolicy, EgressRefused
from authserver.store import SessionClientStore

KIND = "backchannel_logout"
# (client_id, subject, sid) -> a signed logout token (oauth.tokens.IdTokens.logout_token).
LogoutTokenSigner = Callable[[str, str, str], str]


class BackchannelLogout:
    def __init__(
        self,
        store: SessionClientStore,
        outbox: Outbox,
        sign: LogoutTokenSigner,
        events: Events,
        policy: EgressPolicy,
        *,
        timeout: float,
        max_age: int,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._store = store
        self._outbox = outbox
        self._sign = sign
        self._events = events
        self._policy = policy
        self._timeout = timeout
        self._max_age = max_age

    def signed_in(self, session: BrowserSession, client: Client, now: int) -> None:
        """Remember that `client` took part in `session` (only clients that want to hear of its end)."""
        if client.backchannel_logout_uri:
            self._store.add_session_client(session.sid, client.client_id, session.user_id, now)

    def session_ended(self, session: BrowserSession) -> int:
        """Queue a logout notice for every client of the session; how many were queued."""
        deadline = int(self._clock()) + self._max_age

        def notices(clients: Sequence[Client]) -> list[OutboxMessage]:
            return [
                self._outbox.message(
                    KIND,
                    client.backchannel_logout_uri,
                    f"back-channel logout of session {session.sid} for client {client.client_id}",
                    {
                        "client_id": client.client_id,
                        "uri": client.backchannel_logout_uri,
                        "sub": session.user_id,
                        "sid": session.sid,
                        "deadline": deadline,
                    },
                )
                for client in clients
                if client.backchannel_logout_uri and not client.disabled
            ]

        clients = self._store.end_session_clients(session.sid, notices)
        queued = [c for c in clients if c.backchannel_logout_uri and not c.disabled]
        for client in queued:
            self._events.emit(
                "backchannel_logout.queued", client_id=client.client_id, user_id=session.user_id, sid=session.sid
            )
        if queued:
            self._outbox.wake()
        return len(queued)

    def deliver(self, payload: dict[str, Any]) -> None:
        """The outbox handler: sign a fresh logout token and POST it (§2.5)."""
        fields = {"client_id": payload["client_id"], "user_id": payload["sub"], "sid": payload["sid"]}
        if self._clock() > payload["deadline"]:
            self._events.emit("backchannel_logout.abandoned", **fields, reason="time limit")
            raise DeliveryError("gave up: the time limit for this logout notice has passed", final=True)
        token = self._sign(payload["client_id"], payload["sub"], payload["sid"])
        try:
            status = post_form(payload["uri"], {"logout_token": token}, policy=self._policy, timeout=self._timeout)
        except EgressRefused as exc:
            # A destination we may not call will not become one by waiting.
            self._events.emit("backchannel_logout.abandoned", **fields, reason=f"destination refused: {exc}")
            raise DeliveryError(f"destination refused: {exc}", final=True) from None
        except DeliveryError as exc:
            self._events.emit("backchannel_logout.failed", **fields, error=str(exc))
            raise
        if status in (200, 204):  # §2.8: 200 OK (204 is common and as good)
            self._events.emit("backchannel_logout.delivered", **fields, status=status)
            return
        self._events.emit("backchannel_logout.failed", **fields, status=status)
        # §2.8: a 400 means the RP could not process the token; retrying a few times costs little.
        raise DeliveryError(
            f"the client answered HTTP {status}", permanent=400 <= status < 500 and status not in (408, 429)
        )
