"""Signing keys: lifecycle (create, rotate, retire) and each worker's loaded, cached key set.

Rollover follows the usual JWKS discipline (RFC 7517 §5, OIDC Core §10.1.1):
- a new key is published at once but signs only from `activates_at`, set past every JWKS cache
  lifetime (jwks_max_age) and every worker's refresh interval, so verifiers know it before they see it;
- a key stops signing when the next one activates and stays published until every token it signed
  has expired (its retirement + the longest token lifetime + clock leeway), then it is pruned.
All workers and nodes read the same rows; private keys are sealed with AES-GCM under the secret key.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from joserfc.jwk import RSAKey

from authserver.domain import SigningKey
from authserver.errors import StorageUnavailable
from authserver.oauth import keys as rsa_keys
from authserver.security.crypto import DecryptionError, Sealer
from authserver.security.jws_rs256 import Signer
from authserver.store import KeyStore

LEEWAY = 60
logger = logging.getLogger("authserver.keys")


# pending: published, not yet signing; active: the one signing key; retired: published until tokens expire.
KeyStatus = Literal["pending", "active", "retired"]


@dataclass(frozen=True)
class KeyState:
    key: SigningKey
    state: KeyStatus
    retired_at: int | None
    published_until: int | None


class KeyPolicy:
    """Times that decide when a key signs and how long it is published."""

    def __init__(self, *, jwks_max_age: int, key_refresh_seconds: float, max_token_ttl: int) -> None:
        self.activation_delay = int(jwks_max_age + key_refresh_seconds + 1)
        self.retention = int(max_token_ttl + LEEWAY)

    def states(self, keys: Sequence[SigningKey], now: int) -> list[KeyState]:
        ordered = sorted(keys, key=lambda k: (k.activates_at, k.created_at))
        active_index = max((i for i, k in enumerate(ordered) if k.activates_at <= now), default=None)
        result = []
        for i, key in enumerate(ordered):
            if key.activates_at > now:
                result.append(KeyState(key, "pending", None, None))
            elif i == active_index:
                result.append(KeyState(key, "active", None, None))
            else:
                retired_at = ordered[i + 1].activates_at
                result.append(KeyState(key, "retired", retired_at, retired_at + self.retention))
        return result

    def published(self, keys: Sequence[SigningKey], now: int) -> list[KeyState]:
        return [s for s in self.states(keys, now) if s.published_until is None or s.published_until > now]


class KeyManager:
    """Administrative operations; synchronous, used by the CLI and at start-up."""

    def __init__(
        self,
        store: KeyStore,
        sealer: Sealer,
        policy: KeyPolicy,
        bits: int,
        generate: rsa_keys.KeyGenerator = rsa_keys.generate_rsa,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.policy = policy
        self.bits = bits
        self._generate = generate

    # Key lifecycle times (created, active, retired, pruned) are on the wall clock, not the app's injected
    # one (authserver/clock.py): they are written and judged by every node and by `authserver keys` in other
    # processes through the database, so one process's moved test clock must not activate or retire keys.
    def _new_key(self, delay: int) -> SigningKey:
        kid, public, pem = self._generate(self.bits)
        # Times are taken after generation (seconds for large keys), so the full delay runs from the
        # moment the key is published.
        now = int(time.time())
        activates_at = now + delay
        key = SigningKey(
            kid=kid,
            alg=rsa_keys.ALG,
            public_jwk=public,
            private_key_enc=self.sealer.seal(pem, kid),
            created_at=now,
            activates_at=activates_at,
        )
        return key

    def check_secret(self) -> None:
        """Fail (DecryptionError) unless the configured secret opens the newest stored key, so a
        mistyped AUTHSERVER_SECRET_KEY cannot add a key no server can use."""
        keys = self.store.list_keys()
        if keys:
            newest = keys[-1]
            self.sealer.open(newest.private_key_enc, newest.kid)

    def ensure_key(self) -> SigningKey | None:
        """Create the first key, active at once (nobody can have cached an empty JWKS of ours)."""
        if self.store.list_keys():
            return None
        key = self._new_key(0)
        return key if self.store.add_first_key(key) else None

    def rotate(self) -> SigningKey:
        self.check_secret()
        self.prune()
        key = self._new_key(self.policy.activation_delay)
        self.store.add_key(key)
        return key

    def prune(self, now: int | None = None) -> list[str]:
        now = int(time.time()) if now is None else now
        keys = self.store.list_keys()
        live = {s.key.kid for s in self.policy.published(keys, now)}
        gone = [k.kid for k in keys if k.kid not in live]
        self.store.delete_keys(gone)
        return gone

    def describe(self) -> list[KeyState]:
        return self.policy.states(self.store.list_keys(), int(time.time()))


class KeyRing:
    """One worker's view of the keys: parsed once, refreshed every `refresh_seconds`."""

    def __init__(self, store: KeyStore, sealer: Sealer, policy: KeyPolicy, refresh_seconds: float) -> None:
        self._store = store
        self._sealer = sealer
        self._policy = policy
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._keys: list[SigningKey] = []
        self._private: dict[str, RSAKey] = {}
        self._public: dict[str, RSAKey] = {}
        self._jwks = b'{"keys":[]}'
        self._jwks_kids: tuple[str, ...] = ()
        self._unusable: set[str] = set()
        self._signers: dict[tuple[str, str], Signer] = {}

    def stale(self) -> bool:
        # An interval measured in-process (when the key set was last read): monotonic.
        return time.monotonic() - self._loaded_at >= self._refresh

    def reload(self) -> None:
        keys = list(self._store.list_keys())
        with self._lock:
            known = set(self._private)
            usable = []
            for key in keys:
                if key.kid not in known:
                    try:
                        pem = self._sealer.open(key.private_key_enc, key.kid)
                    except DecryptionError:
                        # A key sealed under another secret: never sign with it, keep serving with the rest.
                        if key.kid not in self._unusable:
                            self._unusable.add(key.kid)
                            logger.error(
                                "signing key %s cannot be decrypted with this AUTHSERVER_SECRET_KEY; ignored", key.kid
                            )
                        continue
                    self._private[key.kid] = rsa_keys.load_private(pem, key.kid)
                    self._public[key.kid] = rsa_keys.load_public(key.public_jwk)
                usable.append(key)
            keys = usable
            kids = {k.kid for k in keys}
            for kid in known - kids:
                self._private.pop(kid, None)
                self._public.pop(kid, None)
            self._keys = keys
            self._loaded_at = time.monotonic()
            self._refresh_jwks(int(time.time()))

    def _refresh_jwks(self, now: int) -> None:
        published = tuple(s.key.kid for s in self._policy.published(self._keys, now))
        if published != self._jwks_kids:
            by_kid = {k.kid: k.public_jwk for k in self._keys}
            body = {"keys": [by_kid[kid] for kid in reversed(published)]}
            self._jwks = json.dumps(body, separators=(",", ":")).encode()
            self._jwks_kids = published

    def refresh_if_stale(self) -> None:
        if not self.stale():
            return
        try:
            self.reload()
        except StorageUnavailable:
            if not self._keys:
                raise
            # The keys already loaded stay valid: keep serving the JWKS and verifying with them
            # while the database is away, and try again after the next refresh interval.
            logger.warning("signing keys could not be refreshed; serving the loaded set")
            self._loaded_at = time.monotonic()

    def jwks(self) -> bytes:
        """The published JWK Set, newest first, as response bytes."""
        self._refresh_jwks(int(time.time()))
        return self._jwks

    def signer(self, typ: str) -> tuple[str, Signer]:
        """(kid, signer) for the active key with protected header {alg: RS256, typ, kid}; the header is
        encoded and the key object loaded once per key."""
        kid = self.signing_key().kid
        if kid is None:  # keys are loaded with their kid (reload): not reachable
            raise KeyError("the active signing key has no kid")
        signer = self._signers.get((kid, typ))
        if signer is None:
            if len(self._signers) > 16:  # retired keys' signers
                self._signers.clear()
            private = self._private[kid].private_key
            if private is None:  # loaded from a private PEM (reload): not reachable
                raise KeyError(f"signing key {kid} has no private part")
            signer = self._signers[(kid, typ)] = Signer(private, {"alg": rsa_keys.ALG, "typ": typ, "kid": kid})
        return kid, signer

    def signing_key(self) -> RSAKey:
        now = time.time()
        current = None
        for key in self._keys:  # ordered by activation
            if key.activates_at <= now:
                current = key
        if current is None:
            raise LookupError("no active signing key")
        return self._private[current.kid]

    def verification_key(self, kid: str) -> RSAKey | None:
        key = self._public.get(kid)
        if key is None:
            return None
        # A key pruned from the JWKS no longer verifies, even if this worker still holds it.
        return key if kid in self._jwks_kids or self._published_now(kid) else None

    def _published_now(self, kid: str) -> bool:
        self._refresh_jwks(int(time.time()))
        return kid in self._jwks_kids
