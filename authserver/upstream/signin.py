"""One sign-in through an upstream: the redirect there, and what comes back.

begin()  : state, nonce and a PKCE verifier, remembered in the shared cache under the state (single use,
           bound to the browser), and the authorization URL.
take()   : the pending sign-in a callback's `state` names (gone afterwards, whatever happens next).
complete(): the code exchanged at the token endpoint (client authenticated, PKCE verifier), the ID token
           validated (keys cached; an unknown kid refetches them, at most once a minute per upstream), or,
           for plain OAuth 2.0, the user-info answer read through the claim map. Every failure is an
           UpstreamFailure with a reason for the audit trail; the person gets a page, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from authserver.cache import Cache
from authserver.delivery import DeliveryError
from authserver.delivery.http import call_json
from authserver.domain import UPSTREAM_OIDC, Upstream
from authserver.oauth import upstream as protocol
from authserver.security.crypto import DecryptionError
from authserver.security.egress import EgressPolicy, EgressRefused
from authserver.upstream.registry import redirect_uri, secret_sealer

PENDING = "upstream-pending:"
JWKS = "upstream-jwks:"
REFETCH = "upstream-jwks-refetch:"
REFETCH_SECONDS = 60


class UpstreamFailure(Exception):
    """The sign-in through the upstream failed: `reason` for the audit trail (upstream.failed)."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


@dataclass(frozen=True)
class Pending:
    upstream: str
    # "sign-in" (continues `interaction`), "link" (adds it to `user_id` on the account page) or "reauth"
    # (proves again that the signed-in `user_id` is who they are, then goes back to `next`).
    purpose: str
    browser: str
    nonce: str | None
    verifier: str = ""
    interaction: str | None = None
    user_id: str | None = None
    created_at: int = 0
    next: str | None = None


@dataclass(frozen=True)
class Asserted:
    """What the upstream said about the person."""

    subject: str
    email: str | None
    email_verified: bool
    name: str
    preferred_username: str | None
    acr: str | None
    amr: tuple[str, ...]

    def multi_factor(self, upstream: Upstream) -> bool:
        """Counts as two factors here only when the operator trusts this upstream to say so."""
        return upstream.trust_mfa and (
            "mfa" in self.amr or (self.acr is not None and self.acr in upstream.mfa_acr_values)
        )


class Federation:
    def __init__(
        self,
        cache: Cache,
        *,
        issuer: str,
        secret_key: bytes,
        policy: EgressPolicy,
        timeout: float,
        jwks_ttl: int,
        ttl: int,
    ) -> None:
        self.cache = cache
        self.issuer = issuer
        self.sealer = secret_sealer(secret_key)
        self.policy = policy
        self.timeout = timeout
        self.jwks_ttl = jwks_ttl
        self.ttl = ttl

    def redirect_uri(self, upstream: Upstream) -> str:
        return redirect_uri(self.issuer, upstream.name)

    # --- the way there -------------------------------------------------------------------------

    def begin(
        self,
        upstream: Upstream,
        *,
        purpose: str,
        browser: str,
        interaction: str | None = None,
        user_id: str | None = None,
        next_page: str | None = None,
        now: int,
    ) -> str:
        """Remember a new pending sign-in; the URL to send the browser to."""
        state = protocol.new_secret()
        nonce = protocol.new_secret() if upstream.kind == UPSTREAM_OIDC else None
        pending = Pending(
            upstream=upstream.name,
            purpose=purpose,
            browser=browser,
            nonce=nonce,
            verifier=protocol.new_secret(),
            interaction=interaction,
            user_id=user_id,
            created_at=now,
            next=next_page,
        )
        self.cache.set(PENDING + state, json.dumps(asdict(pending)), self.ttl)
        return protocol.authorization_url(
            upstream.authorization_endpoint,
            client_id=upstream.client_id,
            redirect_uri=self.redirect_uri(upstream),
            scopes=upstream.scopes,
            state=state,
            nonce=nonce,
            verifier=pending.verifier,
        )

    def take(self, state: str) -> Pending | None:
        if not state or len(state) > 100:
            return None
        raw = self.cache.take(PENDING + state)
        return Pending(**json.loads(raw)) if raw else None

    # --- the way back --------------------------------------------------------------------------

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            answer = call_json(method, url, policy=self.policy, timeout=self.timeout, **kwargs)
        except EgressRefused as exc:
            raise UpstreamFailure(f"destination refused: {exc}", unreachable=True) from None
        except DeliveryError as exc:
            raise UpstreamFailure(f"unreachable: {exc}", unreachable=True) from None
        if not isinstance(answer.body, (dict, list)):
            raise UpstreamFailure(f"{url} answered {answer.status} without JSON", unreachable=answer.status >= 500)
        if answer.status != 200:
            error = answer.body.get("error") if isinstance(answer.body, dict) else None
            raise UpstreamFailure(
                f"{url} answered {answer.status} {error or ''}".strip(), unreachable=answer.status >= 500
            )
        return answer.body

    def complete(self, upstream: Upstream, pending: Pending, code: str, *, now: int) -> Asserted:
        try:
            secret = self.sealer.open(upstream.client_secret_enc, upstream.name).decode()
        except DecryptionError:
            raise UpstreamFailure("its client secret cannot be opened with this AUTHSERVER_SECRET_KEY") from None
        form, headers = protocol.token_request(
            code=code,
            redirect_uri=self.redirect_uri(upstream),
            verifier=pending.verifier,
            client_id=upstream.client_id,
            client_secret=secret,
            auth_method=upstream.token_endpoint_auth_method,
        )
        tokens = self._call("POST", upstream.token_endpoint, form=form, headers=headers)
        if not isinstance(tokens, dict) or tokens.get("error"):
            raise UpstreamFailure(
                f"token endpoint error: {tokens.get('error') if isinstance(tokens, dict) else 'not an object'}"
            )
        access_token = tokens.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise UpstreamFailure("the token answer has no access_token")
        if upstream.kind == UPSTREAM_OIDC:
            claims = self._from_id_token(upstream, pending, tokens.get("id_token"), now=now)
            if "email" not in claims and upstream.userinfo_endpoint:
                claims = self._with_userinfo(upstream, access_token, claims)
            return _asserted(claims)
        return self._from_userinfo(upstream, access_token)

    def _with_userinfo(self, upstream: Upstream, access_token: str, claims: dict[str, Any]) -> dict[str, Any]:
        """With response_type=code, profile and email claims are usually at the UserInfo endpoint (OIDC
        Core §5.3); its `sub` must be the ID token's (§5.3.4), or the answer is someone else's and is not
        used. The ID token alone already says who signed in: an answer that is missing, unusable or about
        someone else leaves the claims as they were (a new account then lacks an address and is refused)."""
        if upstream.userinfo_endpoint is None:  # the caller checked it
            return claims
        try:
            info = self._call("GET", upstream.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"})
        except UpstreamFailure:
            return claims
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            return claims
        extra = {k: info[k] for k in ("email", "email_verified", "name", "preferred_username") if k in info}
        return {**claims, **extra}

    def _keys(self, upstream: Upstream, *, fresh: bool) -> Any:
        cached = None if fresh else self.cache.get(JWKS + upstream.name)
        if cached is not None:
            return protocol.key_set(json.loads(cached))
        if upstream.jwks_uri is None:
            raise UpstreamFailure("no jwks_uri")
        data = self._call("GET", upstream.jwks_uri)
        try:
            keys = protocol.key_set(data)
        except protocol.UpstreamProtocolError as exc:
            raise UpstreamFailure(str(exc)) from None
        self.cache.set(JWKS + upstream.name, json.dumps(data), self.jwks_ttl)
        return keys

    def _from_id_token(self, upstream: Upstream, pending: Pending, id_token: Any, *, now: int) -> dict[str, Any]:
        if not isinstance(id_token, str) or not id_token or pending.nonce is None:
            raise UpstreamFailure("the token answer has no id_token")

        def claims(keys: Any) -> dict[str, Any]:
            return protocol.id_token_claims(
                id_token,
                keys,
                issuer=upstream.issuer,
                client_id=upstream.client_id,
                nonce=pending.nonce or "",
                algs=upstream.id_token_algs,
                now=now,
            )

        try:
            try:
                found = claims(self._keys(upstream, fresh=False))
            except protocol.UnknownSigningKey:
                # Key rotation (OIDC Core §10.1.1): fetch the keys again, at most once a minute per upstream,
                # so tokens naming made-up kids cannot make us hammer the upstream.
                if not self.cache.add(REFETCH + upstream.name, "1", REFETCH_SECONDS):
                    raise
                found = claims(self._keys(upstream, fresh=True))
        except protocol.UpstreamProtocolError as exc:
            raise UpstreamFailure(str(exc)) from None
        return found

    def _from_userinfo(self, upstream: Upstream, access_token: str) -> Asserted:
        if upstream.userinfo_endpoint is None:  # registry.build requires it for OAuth 2.0
            raise UpstreamFailure("this upstream has no user-info endpoint")
        bearer = {"Authorization": f"Bearer {access_token}"}
        info = self._call("GET", upstream.userinfo_endpoint, headers=bearer)
        if not isinstance(info, dict):
            raise UpstreamFailure("the user-info answer is not an object")
        mapped = {ours: info.get(theirs) for ours, theirs in upstream.claim_map.items()}
        subject = mapped.get("sub")
        if isinstance(subject, int) and not isinstance(subject, bool):
            subject = str(subject)  # GitHub's numeric id
        mapped["sub"] = subject
        if upstream.emails_endpoint:
            # GitHub: the primary address, only if GitHub verified it.
            emails = self._call("GET", upstream.emails_endpoint, headers=bearer)
            primary = next(
                (e for e in emails if isinstance(e, dict) and e.get("primary"))
                if isinstance(emails, list)
                else iter(()),
                None,
            )
            mapped["email"] = primary.get("email") if primary else None
            mapped["email_verified"] = bool(primary and primary.get("verified") is True)
        return _asserted(mapped)


def _asserted(claims: dict[str, Any]) -> Asserted:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise UpstreamFailure("no usable subject identifier")
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) and email.strip() else None
    name = claims.get("name")
    preferred = claims.get("preferred_username")
    acr = claims.get("acr")
    amr = claims.get("amr")
    return Asserted(
        subject=subject,
        email=email,
        # OIDC Core §5.1: only the boolean true is a verified address (not "true", not absent).
        email_verified=email is not None and claims.get("email_verified") is True,
        name=name.strip()[:200] if isinstance(name, str) else "",
        preferred_username=preferred if isinstance(preferred, str) else None,
        acr=acr if isinstance(acr, str) else None,
        amr=tuple(a for a in amr if isinstance(a, str))[:10] if isinstance(amr, list) else (),
    )
