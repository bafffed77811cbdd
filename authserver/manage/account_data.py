"""What we hold about an account, for its owner: the sign-in history shown on /account and the export
(GDPR Art. 15 access, Art. 20 portability) downloaded there or printed by `authserver user export`.

Never a secret: no password hash, TOTP secret, backup-code, token or session-cookie hash leaves here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from authserver.domain import AuditEvent, User
from authserver.i18n import N_, Message
from authserver.store import Store

FORMAT = "authserver-account-export/1"
SIGN_IN_EVENTS = ("login.succeeded", "login.failed", "login.refused", "mfa.failed", "mfa.throttled")
HISTORY_LENGTH = 20

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def browser(user_agent: str | None) -> str:
    """'Firefox on Linux' from a User-Agent header (a Message: the account page shows it translated); the
    raw value when it names no known browser."""
    if not user_agent:
        return N_("Unknown browser")
    name = next((label for marker, label in _BROWSERS if marker in user_agent), None)
    system = next((label for marker, label in _SYSTEMS if marker in user_agent), None)
    if name is None:
        return re.sub(r"\s+", " ", user_agent)[:60]
    # Translators: a web browser and the operating system it runs on, e.g. "Firefox on Linux".
    return Message(N_("%(browser)s on %(system)s"), browser=name, system=system) if system else name


# The words of the sign-in history (marked for the catalogs: the account page shows them translated; the
# export keeps them in English).
def _method(event: AuditEvent, providers: Mapping[str, str]) -> str:
    if event.event.startswith("mfa."):
        return N_("Second factor")
    amr = event.data.get("amr") or []
    if "fed" in amr:  # a sign-in through an upstream identity provider
        upstream = event.data.get("upstream")
        if not upstream:
            return N_("Through another provider")
        # The name people know the provider by; an upstream deleted since keeps its configured name.
        upstream = providers.get(str(upstream), upstream)
        if "hwk" in amr or "swk" in amr:
            return Message(N_("Through %(provider)s and passkey"), provider=str(upstream))
        if "otp" in amr:
            return Message(N_("Through %(provider)s and authenticator app"), provider=str(upstream))
        if "mfa" in amr:
            return Message(N_("Through %(provider)s, two factors"), provider=str(upstream))
        return Message(N_("Through %(provider)s"), provider=str(upstream))
    if "hwk" in amr or "swk" in amr:
        return N_("Password and passkey") if "pwd" in amr else N_("Passkey")
    if "otp" in amr:
        return N_("Password and authenticator app")
    if "mfa" in amr:
        return N_("Password and backup code")
    return N_("Password")


def _outcome(event: AuditEvent) -> tuple[str, bool]:
    """(what happened, whether it succeeded)."""
    if event.event == "login.succeeded":
        return N_("Signed in"), True
    if event.event == "login.refused":
        return N_("Refused: email address not confirmed"), False
    if event.event == "mfa.failed":
        return N_("Wrong code"), False
    if event.event == "mfa.throttled" or event.data.get("throttled"):
        return N_("Refused: too many attempts"), False
    return N_("Wrong password"), False


def history_entry(event: AuditEvent, providers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One sign-in attempt; `providers` maps upstream names to their display names."""
    outcome, ok = _outcome(event)
    return {
        "time": iso(event.ts),
        "address": event.ip,
        "browser": browser(event.user_agent),
        "method": _method(event, providers or {}),
        "outcome": outcome,
        "succeeded": ok,
    }


def sign_in_history(
    store: Store, user_id: str, providers: Mapping[str, str], limit: int = HISTORY_LENGTH
) -> list[dict[str, Any]]:
    """The newest sign-in attempts on the account, newest first (`providers`: upstream display names)."""
    return [history_entry(e, providers) for e in store.latest_audit_events(user_id, SIGN_IN_EVENTS, limit)]


def export_account(store: Store, client_name: Callable[[str], str | None], user: User, *, now: int) -> dict[str, Any]:
    factor = store.get_totp(user.id)
    events = store.list_audit_events(user_id=user.id, limit=100_000)
    providers = {u.name: u.display_name for u in store.list_upstreams()}
    return {
        "format": FORMAT,
        "exported_at": iso(now),
        "profile": {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "disabled": user.disabled,
            "created_at": iso(user.created_at),
        },
        "second_factors": {
            "authenticator_app": None
            if factor is None
            else {
                "enabled": factor.confirmed_at is not None,
                "created_at": iso(factor.created_at),
                "enabled_at": iso(factor.confirmed_at),
            },
            "backup_codes_left": store.count_backup_codes(user.id),
            # Never the public key: it identifies the authenticator and is of no use to its owner.
            "passkeys": [
                {
                    "name": p.name,
                    "synced": p.backup_eligible,
                    "transports": list(p.transports),
                    "created_at": iso(p.created_at),
                    "last_used_at": iso(p.last_used_at),
                }
                for p in store.list_passkeys(user.id)
            ],
        },
        # Accounts at upstream identity providers linked to this one (their identifier there, not a secret).
        "upstream_identities": [
            {
                "upstream": i.upstream,
                "subject": i.subject,
                "email": i.email,
                "connected_at": iso(i.created_at),
                "last_used_at": iso(i.last_used_at),
            }
            for i in store.list_upstream_identities(user.id)
        ],
        "sessions": [
            {
                "sid": s.sid,
                "signed_in_at": iso(s.auth_time),
                "methods": list(s.amr),
                "created_at": iso(s.created_at),
                "last_seen_at": iso(s.last_seen_at),
                "expires_at": iso(s.expires_at),
            }
            for s in store.list_user_sessions(user.id)
        ],
        "consents": [
            {
                "client_id": client_id,
                "client_name": client_name(client_id),
                "scopes": sorted(scopes),
                "updated_at": iso(at),
            }
            for client_id, scopes, at in store.list_consents(user.id)
        ],
        "sign_in_history": [history_entry(e, providers) for e in reversed(events) if e.event in SIGN_IN_EVENTS],
        "audit_events": [
            {
                "time": iso(e.ts),
                "event": e.event,
                "client_id": e.client_id,
                "address": e.ip,
                "user_agent": e.user_agent,
                "data": e.data,
            }
            for e in events
        ],
    }
