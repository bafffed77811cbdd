"""Deleting an account (GDPR Art. 17), the one way for the account page and the CLI.

Every refresh-token family is revoked and its grants denied (so access tokens already out stop
introspecting as active), then the user row goes with everything attached to it (sessions, codes, tokens,
consents, factors, links) in one transaction. The audit trail keeps its events under a pseudonym (a keyed
hash of the id: the same deleted account always maps to the same pseudonym, which nobody can reverse
without AUTHSERVER_SECRET_KEY), with the addresses the events named removed. The username and email
address can be registered again at once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from authserver.domain import OutboxMessage, User
from authserver.security.derive import derive_key
from authserver.store import Store

# audit_events.user_id holds 36 characters: the prefix and 28 hex digits (112 bits).
PREFIX = "deleted-"


def pseudonym(server_secret: bytes, user_id: str) -> str:
    key = derive_key(server_secret, "audit-pseudonym")
    return PREFIX + hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:28]


@dataclass(frozen=True)
class Deletion:
    pseudonym: str
    sessions_ended: int
    grants_revoked: int


def delete_account(
    store: Store,
    user: User,
    *,
    server_secret: bytes,
    deny_grants: Callable[[list[str]], None],
    farewell: Sequence[OutboxMessage] = (),
    now: int,
) -> Deletion | None:
    """Blocking. None if the user was already gone. (Sessions still open are deleted with the user; the
    account page ends its own the usual way first, so `sessions_ended` counts what was left.)"""
    sessions = len(store.list_user_sessions(user.id))
    grants = store.revoke_user_grants(user.id, now)
    deny_grants(grants)
    alias = pseudonym(server_secret, user.id)
    if not store.delete_user(user.id, alias, farewell):
        return None
    return Deletion(alias, sessions, len(grants))
