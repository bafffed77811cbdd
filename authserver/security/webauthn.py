"""Passkeys (W3C WebAuthn Level 3): the only importer of `webauthn` (py_webauthn), which does the parsing
and verification (CBOR, COSE keys, attestation, signatures); this module picks the options and turns
its results and errors into our own records.

Pure functions: no storage, no HTTP. Challenges are made here and kept by the caller (single use,
bound to a sign-in or an enrolment); sign counters are compared by the caller, who knows whether the
credential is synced (py_webauthn's own counter check is switched off by passing 0 for the stored
count, so its refusal cannot be told apart from any other).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_client_data_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

# Browsers cancel a ceremony after `timeout`; the server keeps the challenge a little longer (5 minutes).
TIMEOUT_MS = 120_000
CHALLENGE_BYTES = 32
# A registration or assertion response is a few kilobytes; anything much larger is not one.
MAX_RESPONSE_CHARS = 16_000
# EdDSA, ES256, RS256: what platform authenticators and security keys use (WebAuthn L3 §5.8.3 note).
ALGORITHMS = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
KNOWN_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)

Verification = Literal["required", "preferred", "discouraged"]


class PasskeyError(ValueError):
    """The browser's response is not a valid passkey response for this ceremony. The message is for logs
    and the audit trail, never shown to the user."""


@dataclass(frozen=True)
class RelyingParty:
    id: str  # WebAuthn L3 §5.1.3: a domain (the issuer's host unless configured)
    origin: str  # scheme://host[:port], compared exactly with clientDataJSON.origin
    name: str


@dataclass(frozen=True)
class Options:
    """What the browser gets (PublicKeyCredential*OptionsJSON) and the challenge the server must keep."""

    json: str
    challenge: str  # base64url


@dataclass(frozen=True)
class NewCredential:
    credential_id: str
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backup_eligible: bool
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True)
class Assertion:
    """A signature that verified. `sign_count` is the authenticator's counter, not yet compared."""

    credential_id: str
    sign_count: int
    backup_eligible: bool
    backed_up: bool
    user_verified: bool


def user_handle(user_id: str) -> bytes:
    """The WebAuthn user handle: the account id (random, no personal data: §14.6.1)."""
    return user_id.encode()


def registration_options(
    rp: RelyingParty, *, user_id: str, user_name: str, display_name: str, existing: Sequence[str]
) -> Options:
    """Options for navigator.credentials.create(): a discoverable credential (a passkey), user verification
    preferred, no attestation (we trust no vendor list: "none" keeps it private, §5.4.7), and the user's
    existing credentials excluded so one authenticator is not registered twice (§5.4.3)."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle(user_id),
        user_name=user_name,
        user_display_name=display_name or user_name,
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing],
        supported_pub_key_algs=ALGORITHMS,
    )
    return Options(options_to_json(options), bytes_to_base64url(options.challenge))


def authentication_options(rp: RelyingParty, *, allow: Sequence[str] = (), verification: Verification) -> Options:
    """Options for navigator.credentials.get(). Without `allow` the browser offers every passkey of this RP
    ID (discoverable credentials: the passwordless and autofill case)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in allow],
        user_verification=UserVerificationRequirement(verification),
    )
    return Options(options_to_json(options), bytes_to_base64url(options.challenge))


@dataclass(frozen=True)
class Presented:
    """The parts of a response the server needs before verifying it: which challenge it answers, which
    credential it names and (for an assertion) which account the authenticator says it belongs to."""

    challenge: str
    credential_id: str
    user_handle: str | None


def _load(response_json: str) -> dict[str, Any]:
    if not response_json or len(response_json) > MAX_RESPONSE_CHARS:
        raise PasskeyError("missing or oversized response")
    try:
        value = json.loads(response_json)
    except ValueError:
        raise PasskeyError("response is not JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("response"), dict):
        raise PasskeyError("response is not a PublicKeyCredential")
    return value


def presented(response_json: str) -> Presented:
    value = _load(response_json)
    body = value["response"]
    try:
        client_data = parse_client_data_json(base64url_to_bytes(str(body.get("clientDataJSON", ""))))
        credential_id = bytes_to_base64url(base64url_to_bytes(str(value.get("rawId") or value.get("id") or "")))
        handle = body.get("userHandle")
        user = base64url_to_bytes(handle).decode() if isinstance(handle, str) and handle else None
    except Exception as exc:  # py_webauthn raises several types on malformed input; all mean "not valid"
        raise PasskeyError(f"malformed response: {type(exc).__name__}") from None
    if not credential_id:
        raise PasskeyError("no credential id")
    return Presented(bytes_to_base64url(client_data.challenge), credential_id, user)


def verify_registration(rp: RelyingParty, response_json: str, challenge: str) -> NewCredential:
    value = _load(response_json)
    try:
        verified = verify_registration_response(
            credential=value,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            supported_pub_key_algs=ALGORITHMS,
        )
    except Exception as exc:  # every failure (bad origin, RP ID, signature, CBOR...) is a refusal
        raise PasskeyError(str(exc) or type(exc).__name__) from None
    raw = value["response"].get("transports")
    transports = tuple(t for t in raw if t in KNOWN_TRANSPORTS)[:8] if isinstance(raw, list) else ()
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=transports,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def verify_assertion(
    rp: RelyingParty, response_json: str, challenge: str, public_key: bytes, *, require_verification: bool
) -> Assertion:
    value = _load(response_json)
    try:
        verified = verify_authentication_response(
            credential=value,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,  # compared by the caller (see the module docstring)
            require_user_verification=require_verification,
        )
    except Exception as exc:
        raise PasskeyError(str(exc) or type(exc).__name__) from None
    return Assertion(
        credential_id=bytes_to_base64url(verified.credential_id),
        sign_count=verified.new_sign_count,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def counter_ok(stored: int, presented_count: int) -> bool:
    """WebAuthn L3 §6.1.1: a counter that does not increase (unless both are 0, an authenticator without
    one) is a signal that the authenticator may be cloned."""
    return (stored == 0 and presented_count == 0) or presented_count > stored
