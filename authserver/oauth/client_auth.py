"""Client authentication at the token, introspection and revocation endpoints.

One pass instead of authlib's try-each-method loop, so every failure gets a precise error:
- RFC 6749 §2.3: a client MUST NOT use more than one authentication method in a request;
- RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64;
- RFC 6749 §5.2: a client that tried the Authorization header gets 401 with WWW-Authenticate;
- RFC 7523 §3 / OIDC Core §9 for private_key_jwt, with `jti` single-use through the shared cache.
A client must use the method it registered. Unknown and disabled clients get the same answer.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Sequence
from typing import cast
from urllib.parse import unquote

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from authserver.clock import Clock
from authserver.domain import AUTH_METHODS_WITH_SECRET, Client
from authserver.oauth.models import OAuthClient
from authserver.oauth.requests import OAuthRequest
from authserver.revocations import Denylist
from authserver.security.secrets import SecretHasher, token_hash

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
ASSERTION_MAX_LIFETIME = 3600
LEEWAY = 60
# The one answer for every client that could not be authenticated: unknown, disabled, wrong secret,
# no credentials for a confidential client, an assertion whose signature does not verify.
FAILED = "Client authentication failed"


def _invalid_client(description: str) -> InvalidClientError:
    # 401 always: RFC 6749 §5.2 requires it for the Basic scheme and allows it for the others,
    # and RFC 9110 §15.5.2 requires WWW-Authenticate with every 401 (authlib adds it).
    return InvalidClientError(description=description, status_code=401)


class ClientAuthenticator:
    def __init__(
        self,
        find_client: Callable[[str], Client | None],
        hasher: SecretHasher,
        denylist: Denylist,
        audiences: Sequence[str],
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._find = find_client
        self._hasher = hasher
        self._denylist = denylist
        self._audiences = list(audiences)

    def __call__(self, request: OAuthRequest, methods: Collection[str], endpoint: str) -> OAuthClient:
        method, client_id, credential = self._presented(request)
        if method not in methods:
            raise _invalid_client(f"'{method}' is not accepted at this endpoint")
        form_client_id = request.form.get("client_id")
        if form_client_id is not None and form_client_id != client_id:
            raise InvalidRequestError("client_id does not match the client's credentials")

        client = self._find(client_id) if client_id else None
        if client is not None and client.disabled:
            client = None
        if method in AUTH_METHODS_WITH_SECRET:
            ok = self._hasher.verify(credential or "", client.secret_hash if client else None)
            if client is None or not ok:
                raise _invalid_client(FAILED)
        elif method == "none":
            if client is None or not client.is_public:
                # A confidential client named without credentials answers exactly like an unknown one,
                # after the same work (a dummy secret check): neither the reply nor its timing tells an
                # enumerator which client_ids exist.
                self._hasher.verify("", None)
                raise _invalid_client(FAILED)
        elif client is None:
            raise _invalid_client(FAILED)
        elif method == "private_key_jwt":
            self._verify_assertion(client, credential or "")

        if client.token_endpoint_auth_method != method:
            raise _invalid_client(
                f"This client is registered to authenticate with '{client.token_endpoint_auth_method}'"
            )
        request.auth_method = method
        request.client = OAuthClient(client)
        return request.client

    def _presented(self, request: OAuthRequest) -> tuple[str, str | None, str | None]:
        form = request.form
        found: list[tuple[str, str | None, str]] = []
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "basic":
                raise _invalid_client("Only the Basic scheme is accepted in the Authorization header")
            client_id, secret = _parse_basic(value.strip())
            found.append(("client_secret_basic", client_id, secret))
        if "client_assertion" in form or "client_assertion_type" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise InvalidRequestError(f"client_assertion_type must be '{ASSERTION_TYPE}'")
            assertion = form.get("client_assertion") or ""
            found.append(("private_key_jwt", _assertion_subject(assertion), assertion))
        if "client_secret" in form:
            found.append(("client_secret_post", form.get("client_id"), form["client_secret"]))
        if len(found) > 1:
            raise InvalidRequestError("Use exactly one client authentication method (RFC 6749 section 2.3)")
        if found:
            return found[0]
        if form.get("client_id"):
            return "none", form["client_id"], None
        raise _invalid_client("Client authentication is required")

    def _verify_assertion(self, client: Client, assertion: str) -> None:
        if not client.jwks:
            raise _invalid_client(FAILED)
        try:
            # Checked to be a public JWK Set when the client was registered.
            keys = KeySet.import_key_set(cast(KeySetSerialization, client.jwks))
            token = jwt.decode(assertion, keys, algorithms=ASSERTION_ALGS)
        except (JoseError, ValueError, TypeError, RecursionError) as exc:
            # Before the signature is proven the presenter may be anyone: the unknown-client answer.
            raise _invalid_client(FAILED) from exc
        claims = token.claims
        try:
            jwt.JWTClaimsRegistry(
                now=lambda: int(self._clock()),
                leeway=LEEWAY,
                iss={"essential": True, "value": client.client_id},
                sub={"essential": True, "value": client.client_id},
                aud={"essential": True, "values": self._audiences},
                exp={"essential": True},
                jti={"essential": True},
            ).validate(claims)
        except (JoseError, ValueError, TypeError, RecursionError) as exc:
            raise _invalid_client("Invalid client assertion") from exc
        now = self._clock()
        exp = claims["exp"]
        if not isinstance(exp, (int, float)) or exp - now > ASSERTION_MAX_LIFETIME:
            raise _invalid_client("Client assertion lifetime is too long")
        if not isinstance(claims["jti"], str):
            raise _invalid_client("Invalid client assertion")
        # RFC 7523 §3 item 7: the AS may ensure the JWT is not replayed; we require it, in the cache
        # and the database (a replay after the cache was emptied still fails). Hashed: jti is any length.
        used = token_hash(f"{client.client_id}:{claims['jti']}")
        if not self._denylist.use_once(used, expires_at=int(exp) + LEEWAY):
            raise _invalid_client("Client assertion has already been used")


def basic_credentials(value: str) -> tuple[str, str] | None:
    """(client_id, secret) from a Basic credential (RFC 6749 §2.3.1: each part form-urlencoded), or None."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        return None
    return unquote(client_id), unquote(secret)


def _parse_basic(value: str) -> tuple[str, str]:
    credentials = basic_credentials(value)
    if credentials is None:
        raise _invalid_client("Malformed Basic credentials")
    return credentials


def _assertion_subject(assertion: str) -> str | None:
    """The claimed client (its `sub`), read before verification only to find its keys."""
    try:
        payload = jws.extract_compact(assertion.encode()).payload
        claims = json.loads(payload)
    except (JoseError, ValueError, TypeError, RecursionError):
        raise _invalid_client("Malformed client assertion") from None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(sub, str) or not sub:
        raise _invalid_client("Malformed client assertion")
    return sub
