"""A pending interaction: what the browser asked for (one typed record per kind of flow) and how far the
user got (an explicit step).

Three kinds of flow start an interaction:
- `AuthorizeFlow`: a validated /authorize request (login -> second factor -> consent -> code to the client);
- `DeviceFlow`: a user code entered on /device (login -> second factor -> confirm on /device/confirm);
- `AccountFlow`: the account pages asking for a sign-in first (login -> second factor -> back to `next`).

`Step` records the page the interaction waits on; `flow.advance` and the sign-in handlers move it, and each
sign-in page handles only the steps it declares (`page.Handles`, checked by `page.open_interaction`). The data
a step needs travels with it (`second_factor` for SECOND_FACTOR, what /mfa checks; `unverified_user` for
VERIFY_EMAIL: who may ask for a new link).

Kept in the shared cache for `interaction_ttl`, so any worker or node can continue it; bound to the
browser that started it, and deleted when it ends (single use).

Versioned storage: the record is JSON under a key that names its format (`interaction:v2:`). During a
rolling deploy, a node never reads the other format: an interaction started on a node running another
version is simply not found, and the browser gets the "sign-in expired, start again" page instead of a
500. A record that does not decode (corrupt, or a future format under this key) is treated the same way.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal

from authserver.cache import Cache

# The format is part of the key: v1 (an untyped dict under "interaction:") is never read by this code.
PREFIX = "interaction:v2:"
FORMAT = 2

ResponseMode = Literal["query", "form_post"]


class FlowKind(StrEnum):
    AUTHORIZE = "authorize"
    DEVICE = "device"
    ACCOUNT = "account"


class Step(StrEnum):
    """The page an interaction waits on."""

    LOGIN = "login"  # the password or passkey step (/login); where every interaction starts
    SIGNUP = "signup"  # prompt=create: the registration page first (/signup)
    SECOND_FACTOR = "second_factor"  # the password was right; a code or passkey is next (/mfa)
    VERIFY_EMAIL = "verify_email"  # proven who they are, but the address is not verified yet
    CONSENT = "consent"  # an authorization request waits for the user's approval (/consent)
    CONFIRM = "confirm"  # a device request waits for the user's approval (/device/confirm)


@dataclass(frozen=True)
class AuthorizeFlow:
    """A validated authorization request (oauth/authorize_request.py), as far as the later steps need it."""

    kind: ClassVar[Literal[FlowKind.AUTHORIZE]] = FlowKind.AUTHORIZE
    client_id: str
    redirect_uri: str
    response_mode: ResponseMode
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None
    hint_subject: str | None = None
    acr_values: tuple[str, ...] = ()
    claims: dict[str, Any] | None = None
    resources: tuple[str, ...] = ()
    dpop_jkt: str | None = None  # RFC 9449 §10: the code is bound to this key
    ui_locales: str | None = None  # OIDC Core §3.1.2.1: the languages of this sign-in's pages


@dataclass(frozen=True)
class DeviceFlow:
    """A device's pending authorization (RFC 8628), found by the user code the user entered."""

    kind: ClassVar[Literal[FlowKind.DEVICE]] = FlowKind.DEVICE
    client_id: str
    device_code_hash: str
    user_code: str
    scopes: tuple[str, ...]
    acr_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountFlow:
    """The account pages need a signed-in session: sign in, then go back to `next` (a checked path)."""

    kind: ClassVar[Literal[FlowKind.ACCOUNT]] = FlowKind.ACCOUNT
    next: str


Flow = AuthorizeFlow | DeviceFlow | AccountFlow


@dataclass(frozen=True)
class SecondFactorPending:
    """Half signed in: the password was right at `pwd_time`; nothing is granted until the second factor."""

    user_id: str
    pwd_time: int
    # What the first step proved (RFC 8176): the password, or a sign-in through an upstream ("fed", whose
    # own acr/amr are in `upstream`).
    first: tuple[str, ...] = ("pwd",)
    upstream: dict[str, Any] | None = None


@dataclass
class Interaction:
    id: str
    flow: Flow
    browser: str
    created_at: int
    step: Step = Step.LOGIN
    # Set when the user signed in (or re-authenticated) during this interaction.
    authenticated_user: str | None = None
    consented: bool = False
    login_failures: int = 0
    second_factor: SecondFactorPending | None = None  # at Step.SECOND_FACTOR
    unverified_user: str | None = None  # at Step.VERIFY_EMAIL: who may ask for a new verification link

    @property
    def client_id(self) -> str | None:
        return None if isinstance(self.flow, AccountFlow) else self.flow.client_id

    @property
    def prompt(self) -> frozenset[str]:
        return self.flow.prompt if isinstance(self.flow, AuthorizeFlow) else frozenset()

    @property
    def login_hint(self) -> str | None:
        return self.flow.login_hint if isinstance(self.flow, AuthorizeFlow) else None

    @property
    def acr_values(self) -> tuple[str, ...]:
        return () if isinstance(self.flow, AccountFlow) else self.flow.acr_values

    @property
    def form_targets(self) -> tuple[str, ...]:
        """Where this interaction's pages may send a form (the CSP form-action): the client's redirect URI."""
        return (self.flow.redirect_uri,) if isinstance(self.flow, AuthorizeFlow) else ()

    def await_second_factor(
        self, user_id: str, pwd_time: int, *, first: tuple[str, ...] = ("pwd",), upstream: dict[str, Any] | None = None
    ) -> None:
        self.second_factor = SecondFactorPending(user_id, pwd_time, first, upstream)
        self.step = Step.SECOND_FACTOR

    def await_verified_email(self, user_id: str) -> None:
        self.unverified_user = user_id
        self.step = Step.VERIFY_EMAIL

    def signed_in(self, user_id: str) -> None:
        """Both factors are done: what the sign-in steps carried is no longer needed."""
        self.authenticated_user = user_id
        self.second_factor = None


def new_interaction(flow: Flow, browser: str, now: int) -> Interaction:
    return Interaction(id=secrets.token_urlsafe(24), flow=flow, browser=browser, created_at=now)


def encode(interaction: Interaction) -> str:
    flow: dict[str, Any] = {"kind": interaction.flow.kind, **interaction.flow.__dict__}
    if isinstance(interaction.flow, AuthorizeFlow):
        flow["prompt"] = sorted(interaction.flow.prompt)
    pending = interaction.second_factor
    return json.dumps(
        {
            "v": FORMAT,
            "id": interaction.id,
            "flow": flow,
            "browser": interaction.browser,
            "created_at": interaction.created_at,
            "step": interaction.step,
            "authenticated_user": interaction.authenticated_user,
            "consented": interaction.consented,
            "login_failures": interaction.login_failures,
            "second_factor": {
                "user_id": pending.user_id,
                "pwd_time": pending.pwd_time,
                "first": list(pending.first),
                "upstream": pending.upstream,
            }
            if pending
            else None,
            "unverified_user": interaction.unverified_user,
        }
    )


def _flow(data: dict[str, Any]) -> Flow:
    kind = FlowKind(data.pop("kind"))
    if kind is FlowKind.AUTHORIZE:
        if data["response_mode"] not in ("query", "form_post"):
            raise ValueError("response_mode")
        return AuthorizeFlow(
            **{
                **data,
                "scopes": tuple(data["scopes"]),
                "prompt": frozenset(data["prompt"]),
                "acr_values": tuple(data["acr_values"]),
                "resources": tuple(data["resources"]),
            }
        )
    if kind is FlowKind.DEVICE:
        return DeviceFlow(**{**data, "scopes": tuple(data["scopes"]), "acr_values": tuple(data["acr_values"])})
    return AccountFlow(**data)


def decode(raw: str) -> Interaction | None:
    """The stored interaction, or None when the record is not one this code wrote (see the docstring)."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.pop("v", None) != FORMAT:
            return None
        pending = data.pop("second_factor")
        return Interaction(
            **{
                **data,
                "flow": _flow(dict(data["flow"])),
                "step": Step(data["step"]),
                "second_factor": SecondFactorPending(**{**pending, "first": tuple(pending.get("first", ("pwd",)))})
                if pending
                else None,
            }
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def save(cache: Cache, interaction: Interaction, ttl: int) -> None:
    cache.set(PREFIX + interaction.id, encode(interaction), ttl)


def load(cache: Cache, interaction_id: str) -> Interaction | None:
    if not interaction_id or len(interaction_id) > 64:
        return None
    raw = cache.get(PREFIX + interaction_id)
    return decode(raw) if raw else None


def finish(cache: Cache, interaction: Interaction) -> bool:
    """Remove it; False if another request already finished it (a double submit)."""
    return cache.take(PREFIX + interaction.id) is not None
