"""Validate an authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1).

`validate` runs small named checks in order (like node-oidc-provider's list of authorization checks):
check_client, check_redirect_uri, then check_well_formed, check_channel (PAR, signed request objects),
check_response_type, check_scopes, check_pkce, check_dpop_jkt, check_prompt, check_max_age,
check_subject (id_token_hint, claims.sub), check_resources.

Order matters: until client_id and redirect_uri are proven, errors go to a page and never to a
redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11); after that they go back to the client.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from authserver.domain import GRANT_AUTHORIZATION_CODE, MULTI_VALUED_PARAMETERS, Client
from authserver.i18n import N_
from authserver.oauth import pkce, redirect_uris
from authserver.oauth.claims import ClaimsRequestError, parse_claims_request

RESPONSE_MODES = ("query", "form_post")
PROMPTS = ("none", "login", "consent", "select_account")
# Initiating User Registration via OpenID Connect 1.0 §4: offered only while sign-up is open.
PROMPT_CREATE = "create"


def supported_prompts(signup_open: bool) -> tuple[str, ...]:
    return (*PROMPTS, PROMPT_CREATE) if signup_open else PROMPTS


MAX_VALUE_LENGTH = 4096
# RFC 9449 §10: dpop_jkt is the RFC 7638 SHA-256 thumbprint of a key, base64url without padding.
DPOP_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


class AuthorizeFatal(Exception):
    """The client or redirect URI cannot be trusted: show an error page. `error` and `detail`: the protocol
    error code and its (English) description, when the refusal has one; the page explains the code in the
    person's language and shows the description as a technical detail."""

    def __init__(self, message: str, *, error: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.detail = detail


@dataclass
class AuthorizeError(Exception):
    """An error to send back to the (verified) redirect URI."""

    error: str
    description: str
    redirect_uri: str
    state: str | None
    response_mode: str = "query"


@dataclass
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    response_mode: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None
    hint_subject: str | None = None
    acr_values: list[str] = field(default_factory=list)
    claims: dict[str, Any] | None = None
    resources: list[str] = field(default_factory=list)
    dpop_jkt: str | None = None
    # OIDC Core §3.1.2.1: the languages the user prefers for our pages, in order (kept for every page
    # of this sign-in; i18n picks the first we ship).
    ui_locales: str | None = None


def redirect_uri_matches(client: Client, requested: str) -> bool:
    return redirect_uris.matches(client.redirect_uris, requested, public=client.is_public)


@dataclass(frozen=True)
class Incoming:
    """The request's parameters as sent: each name's last value, how often each name came, and the
    (multi-valued) resource indicators."""

    pairs: Sequence[tuple[str, str]]
    params: dict[str, str]
    counts: dict[str, int]
    resources: list[str]

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, str]]) -> Incoming:
        counts: dict[str, int] = {}
        for key, _ in pairs:
            counts[key] = counts.get(key, 0) + 1
        return cls(pairs, dict(pairs), counts, [v for k, v in pairs if k == "resource"])

    def once(self, name: str) -> str | None:
        """The parameter when it came exactly once."""
        return self.params.get(name) if self.counts.get(name, 0) == 1 else None


@dataclass(frozen=True)
class Refusal:
    """Makes the error that goes back to the (verified) redirect URI, with the request's state and mode."""

    redirect_uri: str
    state: str | None
    response_mode: str

    def __call__(self, error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, self.redirect_uri, self.state, self.response_mode)


# --- before the redirect URI is trusted: errors are pages (RFC 6749 §4.1.2.1) -----------------------


def check_client(incoming: Incoming, find_client: Callable[[str], Client | None]) -> Client:
    client_id = incoming.once("client_id")
    if not client_id:
        raise AuthorizeFatal(N_("The request has no valid client_id."))
    client = find_client(client_id)
    if client is None or client.disabled:
        raise AuthorizeFatal(N_("The application that sent you here is not registered."))
    return client


def check_redirect_uri(incoming: Incoming, client: Client) -> str:
    redirect_uri = incoming.once("redirect_uri")
    if not redirect_uri:
        raise AuthorizeFatal(N_("The request has no redirect_uri."))
    if not redirect_uri_matches(client, redirect_uri):
        raise AuthorizeFatal(N_("The redirect_uri is not registered for this application."))
    return redirect_uri


def refusal(incoming: Incoming, redirect_uri: str) -> Refusal:
    mode = incoming.params.get("response_mode", "query")
    return Refusal(redirect_uri, incoming.once("state"), mode if mode in RESPONSE_MODES else "query")


# --- after: errors go back to the client --------------------------------------------------------------


def check_well_formed(incoming: Incoming, fail: Refusal) -> None:
    repeated = sorted(k for k, n in incoming.counts.items() if n > 1 and k not in MULTI_VALUED_PARAMETERS)
    if repeated:
        raise fail("invalid_request", f"Parameters must not be repeated: {', '.join(repeated)}")
    too_long = sorted(k for k, v in incoming.pairs if len(v) > MAX_VALUE_LENGTH)
    if too_long:
        raise fail("invalid_request", f"Parameter too long: {', '.join(too_long)}")
    if "response_mode" in incoming.params and incoming.params["response_mode"] not in RESPONSE_MODES:
        raise fail("invalid_request", "response_mode must be query or form_post")
    # request and request_uri were resolved by oauth.request_sources; nested ones are refused.
    if "request" in incoming.params or "request_uri" in incoming.params:
        raise fail("invalid_request", "request and request_uri cannot be nested")


def check_channel(client: Client, fail: Refusal, *, require_par: bool, pushed: bool, signed: bool) -> None:
    if (require_par or client.require_par) and not pushed:
        # RFC 9126 §5/§6: the request must have come through the pushed authorization request endpoint.
        raise fail("invalid_request", "This client must use pushed authorization requests (RFC 9126)")
    if client.require_signed_request_object and not signed:
        # RFC 9101 §10.5: require_signed_request_object.
        raise fail("invalid_request", "This client must send a signed request object (RFC 9101)")


def check_response_type(incoming: Incoming, client: Client, fail: Refusal) -> None:
    if "registration" in incoming.params:
        raise fail("registration_not_supported", "The registration parameter is not supported")
    response_type = incoming.params.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is required")
    if response_type != "code":
        raise fail("unsupported_response_type", "Only response_type=code is supported")
    if GRANT_AUTHORIZATION_CODE not in client.grant_types:
        raise fail("unauthorized_client", "This client may not use the authorization code flow")


def check_scopes(incoming: Incoming, client: Client, fail: Refusal) -> list[str]:
    scopes = list(dict.fromkeys(incoming.params.get("scope", "").split()))
    if not scopes:
        raise fail("invalid_scope", "scope is required")
    unknown = [s for s in scopes if s not in client.scopes]
    if unknown:
        raise fail("invalid_scope", f"Scope not allowed for this client: {' '.join(unknown)}")
    return scopes


def check_pkce(incoming: Incoming, client: Client, fail: Refusal, *, require_pkce: bool) -> tuple[str, str] | None:
    """RFC 7636: the code challenge and its method (S256 only), or None when the client may omit PKCE."""
    challenge = incoming.params.get("code_challenge")
    method = incoming.params.get("code_challenge_method")
    if challenge is None:
        if client.is_public or require_pkce:
            raise fail("invalid_request", "code_challenge is required (PKCE with S256)")
        if method is not None:
            raise fail("invalid_request", "code_challenge_method without code_challenge")
        return None
    # RFC 7636 §4.3: a missing method means "plain", which is refused like an explicit one.
    if method != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if not pkce.CHALLENGE.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge must be 43 base64url characters (S256)")
    return challenge, method


def check_dpop_jkt(incoming: Incoming, fail: Refusal) -> str | None:
    dpop_jkt = incoming.params.get("dpop_jkt")
    if dpop_jkt is not None and not DPOP_JKT.fullmatch(dpop_jkt):
        raise fail("invalid_request", "dpop_jkt must be a SHA-256 JWK thumbprint (43 base64url characters)")
    return dpop_jkt


def check_prompt(incoming: Incoming, fail: Refusal, prompts: Sequence[str]) -> frozenset[str]:
    prompt = frozenset(incoming.params.get("prompt", "").split())
    # Registration §4.1: a prompt value not in prompt_values_supported is invalid_request.
    if prompt - set(prompts):
        raise fail("invalid_request", f"Unsupported prompt value: {' '.join(sorted(prompt - set(prompts)))}")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with other values")
    return prompt


def check_max_age(incoming: Incoming, fail: Refusal) -> int | None:
    if "max_age" not in incoming.params:
        return None
    raw = incoming.params["max_age"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
        raise fail("invalid_request", "max_age must be a non-negative integer")
    return int(raw)


def check_subject(
    incoming: Incoming, fail: Refusal, verify_id_token_hint: Callable[[str], dict[str, Any] | None]
) -> tuple[str | None, dict[str, Any] | None]:
    """The user the request is for (id_token_hint, claims.sub), and the claims request (OIDC Core §5.5)."""
    hint_subject = None
    if incoming.params.get("id_token_hint"):
        hint = verify_id_token_hint(incoming.params["id_token_hint"])
        if hint is None:
            raise fail("invalid_request", "id_token_hint is not an ID token issued here")
        hint_subject = hint["sub"]
    try:
        claims = parse_claims_request(incoming.params.get("claims"))
    except ClaimsRequestError as exc:
        raise fail("invalid_request", str(exc)) from None
    if claims and claims.get("sub"):
        # OIDC Core §5.5.1: a request for a specific sub must only succeed for that user.
        if hint_subject and hint_subject != claims["sub"]:
            raise fail("invalid_request", "claims.sub and id_token_hint name different users")
        hint_subject = claims["sub"]
    return hint_subject, claims


def check_resources(incoming: Incoming, client: Client, fail: Refusal) -> list[str]:
    """RFC 8707: every resource indicator is registered for the client."""
    for resource in incoming.resources:
        if resource not in client.resources:
            raise fail("invalid_target", f"Resource not registered for this client: {resource}")
    return list(dict.fromkeys(incoming.resources))


def validate(
    pairs: Sequence[tuple[str, str]],
    find_client: Callable[[str], Client | None],
    *,
    require_pkce: bool,
    verify_id_token_hint: Callable[[str], dict[str, Any] | None],
    require_par: bool = False,
    pushed: bool = False,
    signed: bool = False,
    prompts: Sequence[str] = PROMPTS,
) -> AuthorizationRequest:
    """Check the parameters of one request; `pushed` / `signed` say they came from PAR / a request object.
    The checks run in this order; the first that fails decides the answer."""
    incoming = Incoming.of(pairs)
    client = check_client(incoming, find_client)
    redirect_uri = check_redirect_uri(incoming, client)
    fail = refusal(incoming, redirect_uri)
    check_well_formed(incoming, fail)
    check_channel(client, fail, require_par=require_par, pushed=pushed, signed=signed)
    check_response_type(incoming, client, fail)
    scopes = check_scopes(incoming, client, fail)
    pkce_pair = check_pkce(incoming, client, fail, require_pkce=require_pkce)
    dpop_jkt = check_dpop_jkt(incoming, fail)
    prompt = check_prompt(incoming, fail, prompts)
    max_age = check_max_age(incoming, fail)
    hint_subject, claims = check_subject(incoming, fail, verify_id_token_hint)
    resources = check_resources(incoming, client, fail)
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        response_mode=fail.response_mode,
        scopes=scopes,
        state=fail.state,
        nonce=incoming.params.get("nonce"),
        code_challenge=pkce_pair[0] if pkce_pair else None,
        code_challenge_method=pkce_pair[1] if pkce_pair else None,
        prompt=prompt,
        max_age=max_age,
        login_hint=incoming.params.get("login_hint"),
        hint_subject=hint_subject,
        acr_values=incoming.params.get("acr_values", "").split(),
        claims=claims,
        resources=resources,
        dpop_jkt=dpop_jkt,
        ui_locales=incoming.params.get("ui_locales") or None,
    )
