"""Storage contracts, declared by their consumers. Each method is one transaction.

The SQL implementation lives in ``store/sql``; nothing above this package imports SQLAlchemy.
A backend that cannot be reached raises ``errors.StorageUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any, Protocol

from authserver.domain import (
    AccountLink,
    AuditEvent,
    AuthCode,
    BrowserSession,
    Client,
    DeviceCode,
    OutboxMessage,
    Passkey,
    RefreshToken,
    Revocation,
    SigningKey,
    TotpFactor,
    Upstream,
    UpstreamIdentity,
    User,
)


class DuplicateError(ValueError):
    """A unique field (client_id, username, email) is already taken."""


class ClientStore(Protocol):
    def get_client(self, client_id: str) -> Client | None: ...
    def add_client(self, client: Client) -> None: ...
    def list_clients(self, *, limit: int | None = None, after: str | None = None) -> Sequence[Client]:
        """Oldest first; `after`: only those created after that client (a keyset page)."""
        ...

    def replace_client(self, client: Client, *, expected_version: int) -> bool:
        """Store every field of `client` (not its id or creation time) if the stored version is still
        `expected_version`, bumping it; False otherwise (gone, or changed meanwhile). Atomic."""
        ...

    def set_client_secret_hash(self, client_id: str, secret_hash: str) -> bool: ...
    def set_registration_token_hash(self, client_id: str, token_hash: str) -> bool: ...
    def delete_client(self, client_id: str) -> bool: ...
    def set_client_disabled(self, client_id: str, disabled: bool) -> bool: ...
    def set_client_introspect_audiences(self, client_id: str, audiences: Sequence[str]) -> bool:
        """Replace the audiences the client may introspect tokens for; False if there is no such client."""
        ...


class UserStore(Protocol):
    def add_user(self, user: User, *, link: AccountLink | None = None, messages: Sequence[OutboxMessage] = ()) -> None:
        """Raises DuplicateError. With `link` and `messages` (sign-up: the verification email), all in one
        transaction."""
        ...

    def get_user(self, user_id: str) -> User | None: ...
    def find_user(self, login: str) -> User | None:
        """By username or email, case-insensitively."""
        ...

    def list_users(
        self, *, limit: int | None = None, after: str | None = None, search: str | None = None
    ) -> Sequence[User]:
        """In creation order; `after`: only those created after that user (a keyset page); `search`: a
        substring of the username, email or name (case-insensitive)."""
        ...

    def update_user(self, user: User, *, expected_version: int) -> bool:
        """Store username, email, name and email_verified if the version is still `expected_version`
        (bumping it); False otherwise. DuplicateError if the username or email is taken."""
        ...

    def set_user_disabled(self, user_id: str, disabled: bool) -> bool: ...
    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Also voids every unused password-reset link of the user."""
        ...

    def delete_user(self, user_id: str, pseudonym: str, messages: Sequence[OutboxMessage] = ()) -> bool:
        """Delete the user with everything attached; audit events keep `pseudonym`. False if already gone."""
        ...


class AccountLinkStore(Protocol):
    def add_account_link(self, link: AccountLink, messages: Sequence[OutboxMessage] = ()) -> None:
        """Store the link (voiding the user's older unused ones of its purpose) and its email, together."""
        ...

    def get_account_link(self, token_hash: str) -> AccountLink | None: ...
    def use_account_link(self, token_hash: str, purpose: str, now: int) -> AccountLink | None:
        """Mark a live link used; only one caller ever gets it back."""
        ...

    def verify_email(self, token_hash: str, now: int) -> User | None:
        """Use a verification link and mark its address verified (if still the user's)."""
        ...

    def change_email(self, token_hash: str, now: int, messages: Sequence[OutboxMessage] = ()) -> User | None:
        """Use an email-change link: its address becomes the user's, verified; DuplicateError if taken."""
        ...

    def reset_password(
        self, token_hash: str, now: int, password_hash: str, messages: Sequence[OutboxMessage] = ()
    ) -> AccountLink | None:
        """Use a reset link, set the password, void the other reset links, queue `messages`: one transaction."""
        ...


class KeyStore(Protocol):
    def list_keys(self) -> Sequence[SigningKey]:
        """Every stored key, oldest activation first."""
        ...

    def add_key(self, key: SigningKey) -> None: ...
    def add_first_key(self, key: SigningKey) -> bool:
        """Store `key` only if there is no key yet (nodes starting together agree on one); True if stored."""
        ...

    def delete_keys(self, kids: Sequence[str]) -> None: ...


class SessionStore(Protocol):
    def add_session(self, session: BrowserSession) -> None: ...
    def get_session(self, id_hash: str) -> BrowserSession | None: ...
    def get_session_by_sid(self, sid: str) -> BrowserSession | None: ...
    def touch_session(self, id_hash: str, now: int) -> None: ...
    def delete_session(self, id_hash: str) -> BrowserSession | None:
        """Remove it and return what it was (None if already gone)."""
        ...

    def list_user_sessions(self, user_id: str) -> Sequence[BrowserSession]: ...
    def mark_reauthenticated(self, id_hash: str, at: int, amr: Sequence[str]) -> bool:
        """Record a re-authentication of the session (sudo mode); False if the session is gone."""
        ...


class CodeStore(Protocol):
    def add_code(self, code: AuthCode) -> None: ...
    def get_code(self, code_hash: str) -> tuple[AuthCode, bool] | None:
        """(code, already used), or None."""
        ...

    def consume_code(self, code_hash: str, now: int) -> tuple[AuthCode | None, bool]:
        """Atomically mark the code used. Returns (code, first_use); (code, False) is a replay."""
        ...

    def redeem_code(self, code_hash: str, now: int, refresh: RefreshToken | None) -> bool:
        """Mark the code used and store the refresh token issued for it, in one transaction.

        False (and nothing stored) if it was already used: of concurrent redemptions one wins.
        """
        ...


class RefreshTokenStore(Protocol):
    def add_refresh_token(self, token: RefreshToken) -> None: ...
    def get_refresh_token(self, token_hash: str) -> RefreshToken | None: ...
    def rotate_refresh_token(self, old_hash: str, new: RefreshToken, now: int) -> bool:
        """Mark the old token used and store the new one, in one transaction.

        False when the old one was already used or revoked: only one caller can ever win.
        """
        ...

    def revoke_grant(self, grant_id: str, now: int) -> int:
        """Revoke every refresh token of one grant (a family); returns how many were live."""
        ...

    def revoke_session_grants(self, sid: str, now: int) -> list[str]:
        """Revoke the session-bound (not offline) refresh tokens of a browser session; their grant ids."""
        ...

    def revoke_user_client_grants(self, user_id: str, client_id: str, now: int) -> list[str]:
        """Revoke every live refresh token a user gave one client; their grant ids."""
        ...

    def revoke_user_grants(self, user_id: str, now: int) -> list[str]:
        """Revoke every refresh-token family of the user (offline and device ones too); the grant ids that
        may still have live access tokens (those families, and recent grants found through their
        redeemed codes and exchanged device codes)."""
        ...


class RevocationStore(Protocol):
    """The durable copy of the denylist (the cache holds the fast one; an emptied cache reloads from here)."""

    def add_revocations(self, entries: Sequence[Revocation], now: int) -> None:
        """Remember these (an entry already present is kept as it is); drops entries past their expiry."""
        ...

    def add_single_use(self, entry: Revocation, now: int) -> bool:
        """Remember a once-only value; False when it was already there (a replay). Atomic."""
        ...

    def list_revocations(self, *, after_id: int, since: int, now: int) -> tuple[list[Revocation], int]:
        """Unexpired jti and grant entries with an id above `after_id` or created at `since` or later,
        and the highest id seen (`after_id` when none)."""
        ...


class ConsentStore(Protocol):
    def get_consent(self, user_id: str, client_id: str) -> frozenset[str]: ...
    def add_consent(self, user_id: str, client_id: str, scopes: frozenset[str], now: int) -> None:
        """Remember these scopes (merged with any already granted)."""
        ...

    def list_consents(self, user_id: str) -> Sequence[tuple[str, frozenset[str], int]]:
        """(client_id, scopes, updated_at) for each client the user consented to."""
        ...

    def delete_consent(self, user_id: str, client_id: str) -> bool: ...


class Removal(StrEnum):
    REMOVED = "removed"
    NOT_FOUND = "not_found"
    # Refused: it is the account's last second factor and the caller asked to keep one.
    LAST_FACTOR = "last_factor"
    # Refused: without it the account would have no way to sign in (no password, passkey or upstream).
    LAST_WAY_IN = "last_way_in"


class MfaStore(Protocol):
    def get_totp(self, user_id: str) -> TotpFactor | None: ...
    def start_totp(self, user_id: str, secret_enc: str, now: int) -> bool:
        """Store an unconfirmed secret (replacing an unconfirmed one); False if one is active."""
        ...

    def confirm_totp(self, user_id: str, step: int, now: int) -> bool: ...
    def use_totp_step(self, user_id: str, step: int) -> bool:
        """Accept a step only if it is newer than the last accepted one (atomic: no replay)."""
        ...

    def delete_totp(self, user_id: str, *, keep_a_factor: bool = False) -> Removal:
        """Remove the TOTP factor and its backup codes. With `keep_a_factor`, refuse (LAST_FACTOR) when it is
        the account's last second factor, decided atomically with the delete (see PasskeyStore)."""
        ...

    def replace_backup_codes(self, user_id: str, code_hashes: Sequence[str], now: int) -> None: ...
    def use_backup_code(self, user_id: str, code_hash: str, now: int) -> bool: ...
    def count_backup_codes(self, user_id: str) -> int: ...


class PasskeyStore(Protocol):
    def add_passkey(self, passkey: Passkey) -> None:
        """Raises DuplicateError if the credential id is already registered (to anyone)."""
        ...

    def get_passkey(self, credential_id: str) -> Passkey | None: ...
    def list_passkeys(self, user_id: str) -> Sequence[Passkey]:
        """Oldest first."""
        ...

    def record_passkey_use(
        self, credential_id: str, *, sign_count: int, backed_up: bool, now: int, counter_must_advance: bool
    ) -> bool:
        """Store the new counter and backup state. With `counter_must_advance`, only if the stored counter is
        lower (atomic: of two assertions carrying the same counter only one is accepted); False otherwise."""
        ...

    def rename_passkey(self, user_id: str, credential_id: str, name: str) -> bool: ...
    def delete_passkey(self, user_id: str, credential_id: str, *, keep_a_factor: bool) -> Removal:
        """Remove one of the user's passkeys. With `keep_a_factor`, refuse (LAST_FACTOR) when it is the
        account's last second factor (passkeys and a confirmed TOTP), decided atomically with the delete."""
        ...

    def delete_passkeys(self, user_id: str) -> int:
        """Remove all of the user's passkeys (administrator reset); how many there were."""
        ...


class UpstreamStore(Protocol):
    def add_upstream(self, upstream: Upstream) -> None:
        """Raises DuplicateError when the name is taken."""
        ...

    def get_upstream(self, name: str) -> Upstream | None: ...
    def list_upstreams(self) -> Sequence[Upstream]: ...
    def delete_upstream(self, name: str) -> bool:
        """Delete it and every identity linked through it."""
        ...

    def get_upstream_identity(self, upstream: str, subject: str) -> UpstreamIdentity | None: ...
    def list_upstream_identities(self, user_id: str) -> Sequence[UpstreamIdentity]: ...
    def add_upstream_identity(self, identity: UpstreamIdentity) -> None:
        """Raises DuplicateError when that upstream account is linked already, or the user has an account
        of that upstream linked already."""
        ...

    def add_federated_user(self, user: User, identity: UpstreamIdentity) -> None:
        """A new account and its first upstream identity, together; DuplicateError if either is taken."""
        ...

    def touch_upstream_identity(self, upstream: str, subject: str, now: int) -> None: ...
    def delete_upstream_identity(self, user_id: str, upstream: str, *, keep_a_way_in: bool) -> Removal:
        """Unlink; with `keep_a_way_in`, refused (LAST_WAY_IN) when it is the account's last way to sign in
        (no password, no passkey, no other upstream identity), decided in one transaction."""
        ...


class AuditStore(Protocol):
    def add_audit_event(
        self,
        event: str,
        ts: int,
        user_id: str | None,
        client_id: str | None,
        ip: str | None,
        user_agent: str | None,
        data: dict[str, Any],
    ) -> None: ...
    def list_audit_events(
        self,
        *,
        user_id: str | None = None,
        since: int | None = None,
        limit: int = 1000,
        client_id: str | None = None,
        event: str | None = None,
        until: int | None = None,
        after_id: int | None = None,
    ) -> Sequence[AuditEvent]:
        """Oldest first, filtered; `since` inclusive, `until` exclusive; `after_id`: a keyset page."""
        ...

    def latest_audit_events(self, user_id: str, events: Sequence[str], limit: int) -> Sequence[AuditEvent]:
        """The user's newest events among `events`, newest first."""
        ...


class DeviceCodeStore(Protocol):
    def add_device_code(self, code: DeviceCode) -> None:
        """Raises DuplicateError if the user code is taken (the caller draws another)."""
        ...

    def get_device_code(self, device_code_hash: str) -> DeviceCode | None: ...
    def find_pending_user_code(self, user_code: str, now: int) -> DeviceCode | None: ...
    def decide_device_code(
        self,
        device_code_hash: str,
        *,
        approved: bool,
        user_id: str,
        auth_time: int,
        amr: tuple[str, ...],
        acr: str,
        sid: str,
        now: int,
    ) -> bool:
        """Approve or deny a pending, unexpired code; False if it was no longer pending."""
        ...

    def consume_device_code(self, device_code_hash: str, now: int) -> bool:
        """Mark an approved code exchanged; only one caller ever gets True."""
        ...


class OutboxStore(Protocol):
    """Messages for the outside world. Other stores accept `messages` on the methods that cause them
    and insert them in the same transaction (store/sql/outbox.insert_messages)."""

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None: ...
    def claim_outbox(self, owner: str, now: int, lease_seconds: int, limit: int) -> list[OutboxMessage]:
        """Lease up to `limit` due messages to `owner`; no two concurrent callers get the same one."""
        ...

    def outbox_sent(self, message_id: str, owner: str, now: int) -> bool: ...
    def outbox_retry(self, message_id: str, owner: str, error: str, retry_at: int | None) -> bool:
        """A failed attempt: due again at `retry_at`, or failed for good when it is None."""
        ...

    def list_outbox(self, statuses: Sequence[str]) -> list[OutboxMessage]: ...
    def retry_outbox(self, message_id: str, now: int) -> bool:
        """Make a failed message pending again (an operator's decision)."""
        ...


class SessionClientStore(Protocol):
    """The clients each browser session signed in to (OIDC Back-Channel Logout 1.0 §2.7)."""

    def add_session_client(self, sid: str, client_id: str, user_id: str, now: int) -> None: ...
    def end_session_clients(
        self, sid: str, notices: Callable[[Sequence[Client]], Sequence[OutboxMessage]]
    ) -> list[Client]:
        """Forget the session's clients and queue the messages `notices` makes for them, in one
        transaction; returns those clients."""
        ...


class RegistrationStore(Protocol):
    """Initial access tokens for dynamic client registration (RFC 7591 §3)."""

    def add_registration_token(
        self, token_hash: str, *, uses: int | None, expires_at: int | None, created_at: int
    ) -> None: ...
    def use_registration_token(self, token_hash: str, now: int) -> bool:
        """Spend one use of a live token (atomic); False if it is unknown, expired or used up."""
        ...


class PurgeStore(Protocol):
    """Deleting what has expired, in small batches (store/sql/purge.py)."""

    def purge_expired(self, kind: str, cutoffs: Mapping[str, int], *, batch_size: int, dry_run: bool = False) -> int:
        """Delete the rows of `kind` (a table named in PURGEABLE) whose expiry column is before its
        cutoff (`cutoffs`: column -> time; a row is gone when any of them has passed), in transactions
        of at most `batch_size` rows each; with `dry_run`, only count them."""
        ...

    def purge_lock(self) -> AbstractContextManager[bool]:
        """Hold the one purger's lock (a PostgreSQL advisory lock, shared by every node) for the block;
        yields False, without waiting, when another process holds it."""
        ...


# What expires, and by which columns (each indexed). The purger (jobs/purge.py) decides the cutoffs.
PURGEABLE: dict[str, tuple[str, ...]] = {
    "auth_codes": ("expires_at",),
    "refresh_tokens": ("expires_at", "idle_expires_at"),
    "browser_sessions": ("expires_at", "last_seen_at"),
    "device_codes": ("expires_at",),
    "account_links": ("expires_at",),
    # Initial access tokens for dynamic registration (a token without an expiry never goes).
    "registration_tokens": ("expires_at",),
    "audit_events": ("ts",),
}


class Store(
    ClientStore,
    UserStore,
    KeyStore,
    SessionStore,
    CodeStore,
    RefreshTokenStore,
    RevocationStore,
    ConsentStore,
    DeviceCodeStore,
    MfaStore,
    PasskeyStore,
    AuditStore,
    OutboxStore,
    AccountLinkStore,
    UpstreamStore,
    SessionClientStore,
    PurgeStore,
    RegistrationStore,
    Protocol,
):
    def ping(self) -> None: ...
    def close(self) -> None: ...
