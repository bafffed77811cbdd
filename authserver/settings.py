"""Settings, read from ``AUTHSERVER_*`` environment variables.

Built explicitly by the CLI or the app factory and passed down; nothing reads the environment at
import time. ``production_problems()`` lists every insecure setting so production refuses to start.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
DEV_SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


# What load_settings raises on a bad environment (pydantic stays behind this module).
InvalidSettings = ValidationError


class MissingSecret(RuntimeError):
    """An operation needs AUTHSERVER_SECRET_KEY and none is configured."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHSERVER_", frozen=True, extra="ignore", env_ignore_empty=True)

    env: Literal["development", "production"] = Field(
        default="development",
        description="`development` or `production` (production refuses insecure settings, see README)",
    )
    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description="the issuer URL; endpoints are built from it (never from the Host header)",
    )
    database_url: str = Field(
        default="sqlite:///authserver.db",
        description="SQLAlchemy URL; `postgresql+psycopg://user:pass@host/db` in production",
    )
    redis_url: str | None = Field(
        default=None,
        description="`redis://host:6379/0`, `redis+sentinel://host:26379/mymaster` or `redis+cluster://host:7000,host:7001`; unset = in-process store (one process only)",
    )
    # Keys in Redis are prefixed so several deployments (or test runs) can share one server.
    cache_prefix: str = Field(default="authserver:", description="prefix of every Redis key, to share one Redis")
    secret_key: SecretStr | None = Field(
        default=None,
        description="at least 32 characters; derives the keys that encrypt signing keys and hash client secrets. In development it is generated into `keys/secret_key` when unset",
    )
    keys_dir: Path = Field(default=Path("keys"), description="where the development secret is kept")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="`debug`, `info`, `warning` or `error`"
    )
    # Addresses of the reverse proxies whose X-Forwarded-For is believed (comma-separated IPs/CIDRs, or
    # "*"). Behind a proxy this must be set, or every user shares the proxy's address for rate limits.
    forwarded_allow_ips: str = Field(
        default="", description="proxies whose `X-Forwarded-For` is trusted (IPs/CIDRs, or `*`)"
    )
    # On SIGTERM keep serving this long with /readyz failing, so a load balancer takes the node out
    # before its listener closes (set it above the proxy's health-check interval).
    shutdown_drain_seconds: float = Field(
        default=0, ge=0, le=120, description="on SIGTERM, fail `/readyz` and keep serving this long before closing"
    )
    # One JSON line per request (method, route, status, duration; never the query string).
    access_log: bool = Field(
        default=True, description="one JSON access-log line per request (successful API calls sampled, below)"
    )
    # Share of *successful* API requests (token, introspection, JWKS, discovery...) that get an access-log
    # line; errors (status >= 400) and the sign-in pages are always logged. Each sampled line carries
    # `sample_rate`, so counts can be scaled back up; /metrics counts every request.
    access_log_sample_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="share of successful API requests that get an access-log line, marked `sample_rate`; errors (status >= 400) and the sign-in pages are always logged, and `/metrics` counts every request. `1` logs everything",
    )
    # If set, /metrics requires "Authorization: Bearer <this>"; otherwise restrict it at the proxy.
    metrics_token: SecretStr | None = Field(
        default=None,
        description="if set, `/metrics` needs `Authorization: Bearer <it>`; required (16+ characters) in production",
    )

    access_token_ttl: int = Field(default=900, ge=1, le=86400, description="access-token lifetime, seconds")
    id_token_ttl: int = Field(default=3600, ge=1, le=86400, description="ID-token lifetime, seconds")
    # RFC 6749 §4.1.2: codes are short-lived; 60 s is plenty for a redirect and a back-channel call.
    auth_code_ttl: int = Field(default=60, ge=1, le=60, description="authorization-code lifetime, seconds (at most 60)")
    # A refresh-token family lives at most refresh_token_ttl; each token dies if unused for idle_ttl.
    refresh_token_ttl: int = Field(
        default=30 * 86400, ge=60, le=365 * 86400, description="absolute lifetime of a refresh-token family, seconds"
    )
    refresh_token_idle_ttl: int = Field(
        default=7 * 86400, ge=60, le=365 * 86400, description="a refresh token unused this long expires, seconds"
    )
    session_ttl: int = Field(
        default=12 * 3600, ge=60, le=30 * 86400, description="absolute browser-session lifetime, seconds"
    )
    session_idle_ttl: int = Field(
        default=2 * 3600, ge=60, le=30 * 86400, description="a browser session ends after this long idle, seconds"
    )
    # How long a user has to finish signing in (login, consent) once an app sent them here.
    interaction_ttl: int = Field(
        default=900, ge=60, le=3600, description="time to finish signing in once an app sent the user, seconds"
    )
    # RFC 8628: how long a device code waits for approval, and the minimum polling interval.
    device_code_ttl: int = Field(
        default=600,
        ge=60,
        le=3600,
        description="how long a device code waits for the user (RFC 8628 `expires_in`), seconds",
    )
    device_poll_interval: int = Field(default=5, ge=1, le=60, description="minimum seconds between polls (`interval`)")
    # Wrong user codes allowed per IP address (and per signed-in account) in device_guess_window seconds.
    device_guess_limit: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="wrong user codes per source address (IPv6: /64) and per account per window",
    )
    device_guess_window: int = Field(default=600, ge=10, le=86400, description="that window, seconds")
    # Device codes one client may request per minute: every live code is one more target for guessing.
    device_codes_per_minute: int = Field(
        default=60, ge=1, le=100000, description="device codes one client may request per minute"
    )
    # Guess throttling (security/throttle.py), one set of counters for passwords and second-factor
    # codes wherever they are typed: per (account, source address), per account, per source address.
    # Reaching a limit locks for login_lock_seconds, doubling with each further failure up to
    # login_max_lock_seconds. Counts are forgotten login_failure_window seconds after the last attempt.
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="wrong passwords or codes for one account from one source address (an IPv4 address or an "
        "IPv6 /64) before that pair is locked",
    )
    login_account_max_failures: int = Field(
        default=20,
        ge=1,
        le=100000,
        description="wrong passwords or codes for one account from all addresses together before the account is "
        "locked for every browser that has not signed in to it before (keep it above "
        "login_max_failures)",
    )
    login_ip_max_failures: int = Field(
        default=50,
        ge=1,
        le=10000,
        description="wrong passwords or codes from one source address, whatever the account, before the address "
        "is locked",
    )
    login_lock_seconds: int = Field(
        default=30, ge=1, le=3600, description="first lock; doubles with each further failure"
    )
    login_max_lock_seconds: int = Field(default=900, ge=1, le=86400, description="longest lock")
    login_failure_window: int = Field(
        default=3600, ge=60, le=86400, description="failures are forgotten this many seconds after the last attempt"
    )
    mfa_max_attempts: int = Field(
        default=5, ge=1, le=20, description="wrong second-factor codes in one sign-in before it is discarded"
    )
    known_device_ttl: int = Field(
        default=180 * 86400,
        ge=86400,
        le=730 * 86400,
        description="lifetime of the known-device cookie a browser gets when it signs in: it lets that browser "
        "past the account-wide lock (not past the lock of its own address)",
    )
    reauth_seconds: int = Field(
        default=300,
        ge=1,
        le=3600,
        description="sudo mode: factor and password changes need the password (and the second factor where "
        "enrolled) proven within this many seconds",
    )
    # Rate limits in the `limits` notation ("N/second|minute|hour"), shared by all nodes through Redis.
    # Per client, charged once it authenticated (a public client: per client and source address):
    # /token and /par, /introspect, /revoke, /device_authorization. Per source address (an IPv4 address
    # or an IPv6 /64), charged before anything else: the same endpoints (`*_ip`). Per source and per
    # account: the login and MFA forms. Per source: device code entry. Over a limit: 429 with Retry-After.
    rate_limits_enabled: bool = Field(
        default=True,
        description="rate limits on (limits use the notation `N/second|minute|hour`, shared by all nodes through Redis; over a limit: 429 with Retry-After)",
    )
    rate_limit_token: str = Field(
        default="1200/minute",
        description="requests to `/token` and `/par` per client, once it authenticated (a public client: per client and source address)",
    )
    rate_limit_introspect: str = Field(
        default="12000/minute", description="requests to `/introspect` per authenticated client"
    )
    rate_limit_revoke: str = Field(default="600/minute", description="requests to `/revoke` per authenticated client")
    rate_limit_token_ip: str = Field(
        default="2400/minute",
        description="requests to `/token` and `/par` per source address (IPv6: /64), before authentication",
    )
    rate_limit_introspect_ip: str = Field(
        default="24000/minute", description="requests to `/introspect` per source address, before authentication"
    )
    rate_limit_revoke_ip: str = Field(
        default="1200/minute", description="requests to `/revoke` per source address, before authentication"
    )
    rate_limit_device_authorization_ip: str = Field(
        default="120/minute",
        description="requests to `/device_authorization` per source address, before authentication",
    )
    rate_limit_login_ip: str = Field(
        default="60/minute", description="login and MFA form submissions per source address"
    )
    rate_limit_login_account: str = Field(default="20/minute", description="login and MFA form submissions per account")
    rate_limit_device_entry_ip: str = Field(
        default="30/minute", description="device user-code entries per source address"
    )
    rate_limit_admin: str = Field(
        default="600/minute",
        description="admin API requests (`/admin/api/v1`) per admin client, once its token verified",
    )
    rate_limit_admin_ip: str = Field(
        default="1200/minute",
        description="admin API and dynamic client registration requests per source address, before any token is checked",
    )
    # PKCE for every client, confidential ones too (RFC 9700 §2.1.1); public clients always need it.
    require_pkce: bool = Field(
        default=True, description="PKCE for confidential clients too (public clients always need it)"
    )
    # RFC 9126 §5: every client must push its authorization requests (per client: --require-par).
    require_pushed_authorization_requests: bool = Field(
        default=False, description="every client must use `/par` (RFC 9126); per client: `--require-par`"
    )
    # RFC 9449: how old a DPoP proof's iat may be, and whether proofs must carry a server nonce (§8, §9).
    dpop_proof_max_age: int = Field(
        default=60, ge=5, le=600, description="how old (by its `iat`) a DPoP proof may be, seconds (RFC 9449)"
    )
    dpop_require_nonce: bool = Field(
        default=False, description="DPoP proofs must carry a server nonce (`DPoP-Nonce`, `use_dpop_nonce`)"
    )
    # OIDC Back-Channel Logout: how long one call may take, and how long a notice is retried.
    backchannel_logout_timeout: float = Field(
        default=5, ge=0.5, le=30, description="OIDC Back-Channel Logout: how long one call may take, seconds"
    )
    backchannel_logout_max_age: int = Field(
        default=3600,
        ge=60,
        le=7 * 86400,
        description="OIDC Back-Channel Logout: how long an undelivered logout notice is retried, seconds",
    )
    # Outbound calls (back-channel logout) in production go only to public addresses, except to these
    # networks (comma-separated CIDRs, e.g. an internal RP at 10.1.2.0/24).
    upstream_timeout: float = Field(
        default=5,
        ge=0.5,
        le=30,
        description="sign-in through an upstream identity provider: how long one call to it (discovery, token, keys, user info) may take, seconds",
    )
    upstream_jwks_cache_seconds: int = Field(
        default=3600,
        ge=60,
        le=86400,
        description="how long an upstream identity provider's keys (JWKS) are cached; an unknown kid fetches them again at most once a minute",
    )
    egress_allowed_networks: str = Field(
        default="",
        description="outbound calls (back-channel logout, upstream identity providers) in production go only to public addresses, except to these networks (comma-separated CIDRs)",
    )
    # How long clients may cache the JWKS (Cache-Control max-age). A rotated key starts signing only
    # after this (plus key_refresh_seconds) has passed, so no verifier meets an unknown kid.
    jwks_max_age: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="`Cache-Control: max-age` of the JWKS; a rotated key signs only after it",
    )
    # How often each worker re-reads the signing keys from the database.
    key_refresh_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="how often each worker re-reads the signing keys"
    )
    # How long a worker may serve a client record from memory. Deleting or disabling a client takes
    # effect everywhere within this time; 0 reads the database on every request.
    client_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="how long a worker may reuse a client record, or remember that a client_id is unknown (`0` = always read)",
    )
    # How often each worker copies revocations made elsewhere (the CLI) from the database into the
    # cache; 0 checks the database on every token check.
    revocation_sync_seconds: float = Field(
        default=1.0,
        ge=0,
        le=300,
        description="how often each worker copies revocations made outside it (the CLI) from the database into the cache",
    )
    signing_key_bits: int = Field(
        default=2048, ge=2048, le=8192, description="RSA modulus size for new keys (2048-8192)"
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=10 * 1024 * 1024, description="larger request bodies get `413`"
    )
    # Connection limits (authserver/connections.py): a request's line and headers must arrive within
    # header_timeout_seconds of the connection opening (or of the previous response) and fit in
    # max_header_bytes; an idle kept-alive connection is closed after keep_alive_seconds.
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="a request's line and headers must arrive within this many seconds of the connection opening (or of the previous response), else `408`",
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=4096, le=1024 * 1024, description="a request line and headers larger than this get `431`"
    )
    keep_alive_seconds: float = Field(
        default=5.0, gt=0, le=300, description="an idle kept-alive connection is closed after this many seconds"
    )
    db_pool_size: int = Field(
        default=10, ge=1, le=200, description="PostgreSQL connections per worker (plus as many overflow)"
    )
    # Passkeys (WebAuthn): the RP ID is the issuer's host and the origin the issuer's origin. Behind a
    # proxy that changes either (another public host, a path-mapped issuer), set them here.
    webauthn_rp_id: str | None = Field(
        default=None,
        max_length=253,
        description="WebAuthn relying-party ID: a domain that is the origin's host or a parent of it "
        "(default: the issuer's host). Passkeys are bound to it: changing it later orphans every passkey",
    )
    webauthn_origin: str | None = Field(
        default=None,
        description="the origin (scheme://host[:port]) browsers show the sign-in pages on (default: the "
        "issuer's origin)",
    )

    # Self-service accounts (README "Sign-up"): /signup and OIDC prompt=create when open.
    # Dynamic client registration (RFC 7591) at /register; RFC 7592 management of what it registered.
    dynamic_registration: Literal["token", "open"] = Field(
        default="token",
        description="who may register clients at `/register` (RFC 7591): `token` needs an initial access token "
        "(`authserver client registration-token`); `open` lets anyone register a confidential or public client "
        "(never an admin, first-party or MFA-exempt one). Sign-up of people is AUTHSERVER_SIGNUP",
    )
    signup: Literal["closed", "open"] = Field(
        default="closed", description="`open`: self-service sign-up at `/signup` and `prompt=create`"
    )
    argon2_cost: Literal["standard", "test"] = Field(
        default="standard",
        description="argon2id parameters of user passwords: `standard` is RFC 9106's low-memory profile (3 passes, "
        "64 MiB, 4 lanes); `test` is the cheapest argon2id (1 pass, 8 KiB), for test suites only (production "
        "refuses it). Stored hashes of other parameters are rehashed at the next sign-in",
    )
    require_verified_email: bool = Field(
        default=False, description="sign-in is refused until the account's email address is verified"
    )
    verify_link_ttl: int = Field(
        default=86400, ge=300, le=30 * 86400, description="lifetime of an email-verification link, seconds"
    )
    password_reset: bool = Field(
        default=True, description="'Forgot your password?': a reset link by email (production then needs SMTP)"
    )
    reset_link_ttl: int = Field(default=1800, ge=300, le=86400, description="lifetime of a password-reset link")
    rate_limit_signup_ip: str = Field(default="20/hour", description="sign-ups per source address")
    # Messages a visitor can make us send to one address (sign-up, new verification or reset links),
    # and requests for them from one source address.
    rate_limit_mail_address: str = Field(
        default="5/hour",
        description="messages visitors can cause to be sent to one address (sign-up, verification or reset links)",
    )
    rate_limit_mail_ip: str = Field(default="30/hour", description="requests for such messages per source address")

    # Email (delivery/, jobs/outbox.py). Unset in development: messages are written to the log in full.
    smtp_url: SecretStr | None = Field(
        default=None,
        description="smtp://host:port (STARTTLS whenever the server offers it) or smtps://host:port (TLS from the "
        "start); a user and password may be given in the URL",
    )
    smtp_username: str | None = Field(default=None, description="SMTP user name (instead of in the URL)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password (instead of in the URL)")
    smtp_from: str | None = Field(default=None, description="the From address; default noreply@<issuer host>")
    smtp_timeout: float = Field(default=10, ge=1, le=120, description="seconds for one SMTP conversation step")
    mail_poll_seconds: float = Field(
        default=5, ge=0.05, le=300, description="how often each worker looks for messages queued by other processes"
    )
    mail_retry_seconds: int = Field(default=30, ge=1, le=3600, description="first retry delay, doubling each time")
    mail_max_retry_seconds: int = Field(default=1800, ge=1, le=86400, description="longest retry delay")
    mail_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="attempts before a message the mail server refuses for good (5xx) is marked failed; messages "
        "that meet an outage or a temporary refusal are retried until they are delivered",
    )

    # The hosted pages and emails (README "Branding and languages").
    default_language: Literal["en", "de", "fr", "es"] = Field(
        default="en",
        description="language of pages and emails when neither `ui_locales` nor the browser's `Accept-Language` "
        "names a shipped one (en, de, fr, es)",
    )

    product_name: str = Field(
        default="authserver",
        min_length=1,
        max_length=60,
        description="the name people see on every page and email, and as the passkey relying party",
    )
    logo_url: str | None = Field(
        default=None,
        description="logo beside the product name (shown 32×32): an https:// URL or a path under `/static/` "
        "(e.g. a theme's own file)",
    )
    primary_color: str | None = Field(
        default=None,
        description="colour of primary buttons and links, `#rrggbb`; white text on it must reach WCAG AA contrast "
        "(4.5:1)",
    )
    support_url: str | None = Field(
        default=None,
        description="'Help and support' link at the foot of every page and beside error references: an https:// "
        "URL or a `mailto:` address",
    )
    theme_dir: Path | None = Field(
        default=None,
        description="a theme: its `templates/` and `static/` files take the place of the built-in ones of the same "
        "name (README 'Branding and languages')",
    )

    # Expired rows (codes, refresh tokens, sessions, device codes, account links) and audit events
    # older than the retention are deleted by `authserver purge` and by a background purger in the
    # server (one node at a time), every purge_interval_seconds (0: only by the command).
    audit_retention_days: int = Field(default=365, ge=1, le=36500, description="audit events kept this long")
    purge_interval_seconds: float = Field(
        default=3600, ge=0, le=7 * 86400, description="how often the server purges expired rows (0: never)"
    )
    purge_batch_size: int = Field(
        default=1000, ge=10, le=100000, description="rows deleted per transaction (short locks)"
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_shape(cls, value: str) -> str:
        # OpenID Connect Discovery 1.0 §3 / RFC 8414 §2: a URL with no query or fragment.
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be an http(s) URL with no query or fragment")
        return value.rstrip("/")

    @field_validator("logo_url")
    @classmethod
    def _logo_shape(cls, value: str | None) -> str | None:
        # A logo may come only from https or our own static files: nothing else passes img-src.
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname and not parts.username and not parts.password:
            return value
        if not parts.scheme and not parts.netloc and value.startswith("/static/") and ".." not in value:
            return value
        raise ValueError("must be an https:// URL or a path under /static/")

    @field_validator("primary_color")
    @classmethod
    def _colour_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError("must be a colour like #2f5bea")
        ratio = contrast_with_white(value)
        if ratio < 4.5:
            raise ValueError(
                f"white text on {value} has a contrast of {ratio:.2f}:1; WCAG 2.1 AA needs 4.5:1 (choose a darker colour)"
            )
        return value.lower()

    @field_validator("support_url")
    @classmethod
    def _support_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme in ("https", "http") and parts.hostname:
            return value
        if parts.scheme == "mailto" and "@" in parts.path:
            return value
        raise ValueError("must be an https:// URL or a mailto: address")

    @field_validator("theme_dir")
    @classmethod
    def _theme_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        try:
            parts.port  # noqa: B018 - raises ValueError when the port is not a number
        except ValueError:
            raise ValueError("the port must be a number") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://host:port or smtps://host:port")
        return value

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from_shape(cls, value: str | None) -> str | None:
        from email.utils import parseaddr

        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError("must be an email address, optionally with a name: 'Example <noreply@example.com>'")
        return value

    @property
    def mail_from(self) -> str:
        return self.smtp_from or f"noreply@{urlsplit(self.issuer).hostname}"

    def mail_features(self) -> list[str]:
        """The settings that turn on features that send email (production needs SMTP for them)."""
        features = []
        if self.signup == "open":
            features.append("AUTHSERVER_SIGNUP=open")
        if self.require_verified_email:
            features.append("AUTHSERVER_REQUIRE_VERIFIED_EMAIL=true")
        if self.password_reset:
            features.append("AUTHSERVER_PASSWORD_RESET=true (the default; set it to false to turn reset links off)")
        return features

    @field_validator("webauthn_origin")
    @classmethod
    def _origin_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("must be an origin: scheme://host[:port], no path")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must be an origin: scheme://host[:port], no path")
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def rp_origin(self) -> str:
        """The origin a WebAuthn ceremony must come from (W3C WebAuthn L3 §7.1 step 9)."""
        if self.webauthn_origin:
            return self.webauthn_origin
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def rp_id(self) -> str:
        """The WebAuthn RP ID: a registrable suffix of the origin's host (WebAuthn L3 §5.1.3), by default
        that host itself (never with a port)."""
        if self.webauthn_rp_id:
            return self.webauthn_rp_id.lower().rstrip(".")
        return urlsplit(self.rp_origin).hostname or ""

    @model_validator(mode="after")
    def _rp_id_covers_origin(self) -> Settings:
        # WebAuthn L3 §5.1.3: the RP ID must equal the origin's effective domain or be a suffix of it.
        host = urlsplit(self.rp_origin).hostname or ""
        rp_id = self.rp_id
        if not rp_id or not (host == rp_id or host.endswith("." + rp_id)):
            raise ValueError(f"webauthn_rp_id ({rp_id}) must be the origin's host ({host}) or a parent domain of it")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def max_token_ttl(self) -> int:
        return max(self.access_token_ttl, self.id_token_ttl)

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @field_validator(
        "rate_limit_token",
        "rate_limit_introspect",
        "rate_limit_revoke",
        "rate_limit_token_ip",
        "rate_limit_introspect_ip",
        "rate_limit_revoke_ip",
        "rate_limit_device_authorization_ip",
        "rate_limit_login_ip",
        "rate_limit_login_account",
        "rate_limit_device_entry_ip",
        "rate_limit_admin",
        "rate_limit_admin_ip",
        "rate_limit_signup_ip",
        "rate_limit_mail_address",
        "rate_limit_mail_ip",
    )
    @classmethod
    def _rate_limit_shape(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("must look like '100/minute' (per second, minute, hour or day)") from None
        return value

    @field_validator("egress_allowed_networks")
    @classmethod
    def _networks_shape(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"not a network: {part.strip()!r} (use CIDRs like 10.0.0.0/8)") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters (32 in production)")
        return value

    def secret_bytes(self) -> bytes:
        if self.secret_key is None:
            raise MissingSecret("AUTHSERVER_SECRET_KEY must be set (it is generated only in development)")
        return self.secret_key.get_secret_value().encode()

    def production_problems(self) -> list[str]:
        """Each insecure setting, named, for the refusal message."""
        if self.env != "production":
            return []
        problems = []
        if not self.issuer.startswith("https://"):
            problems.append("AUTHSERVER_ISSUER must be an https:// URL in production")
        if self.webauthn_origin and not self.webauthn_origin.startswith("https://"):
            problems.append("AUTHSERVER_WEBAUTHN_ORIGIN must be an https:// origin in production")
        if self.secret_key is None:
            problems.append("AUTHSERVER_SECRET_KEY must be set in production")
        elif len(self.secret_key.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            problems.append(f"AUTHSERVER_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters")
        if self.is_sqlite:
            problems.append("AUTHSERVER_DATABASE_URL must not be SQLite in production (use postgresql+psycopg://)")
        if not self.redis_url:
            problems.append("AUTHSERVER_REDIS_URL must be set in production (limits and revocations are shared)")
        token = self.metrics_token.get_secret_value() if self.metrics_token is not None else ""
        if len(token) < MIN_METRICS_TOKEN_LENGTH:
            # /metrics names every client and counts every failure: not for the whole internet.
            problems.append(
                f"AUTHSERVER_METRICS_TOKEN must be set in production (at least {MIN_METRICS_TOKEN_LENGTH} "
                "characters; /metrics then needs 'Authorization: Bearer <it>')"
            )
        if self.argon2_cost != "standard":
            problems.append("AUTHSERVER_ARGON2_COST must be `standard` in production (`test` is for test suites)")
        if self.support_url and self.support_url.startswith("http://"):
            problems.append("AUTHSERVER_SUPPORT_URL must be an https:// URL (or mailto:) in production")
        if self.smtp_url is None and self.mail_features():
            problems.append(
                "AUTHSERVER_SMTP_URL must be set in production when a feature that sends email is on ("
                + ", ".join(self.mail_features())
                + ")"
            )
        return problems


def contrast_with_white(colour: str) -> float:
    """WCAG 2.1 contrast ratio of white text on `#rrggbb` (relative luminance, §1.4.3)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; in development, create (once) and use a secret under ``keys/``."""
    settings = Settings(**overrides)
    if settings.secret_key is None and settings.env == "development":
        settings = settings.model_copy(update={"secret_key": SecretStr(_dev_secret(settings.keys_dir))})
    return settings


def _dev_secret(keys_dir: Path) -> str:
    path = keys_dir / DEV_SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    keys_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once agree on one secret; the loser reads the winner's file.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def explain(exc: InvalidSettings) -> str:
    """One line naming each bad AUTHSERVER_* variable (InvalidSettings is what load_settings raises)."""
    parts = []
    for err in exc.errors():
        name = "AUTHSERVER_" + "_".join(str(p) for p in err["loc"]).upper()
        parts.append(f"{name}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)


def reference() -> str:
    """docs/configuration.md: every setting with its default, bounds and description (`make docs`)."""
    rows = [
        "# Configuration",
        "",
        "Generated from `authserver/settings.py` by `make docs`; a test fails when this file drifts from it.",
        "Every setting is an environment variable; every CLI command and every worker reads the same ones.",
        "",
        "| variable | default | allowed | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is None:
            shown = "unset"
        elif isinstance(default, bool):
            shown = f"`{str(default).lower()}`"
        elif default == "":
            shown = "empty"
        else:
            shown = f"`{default}`"
        bounds = []
        for item in field.metadata:
            for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                value = getattr(item, attr, None)
                if value is not None:
                    bounds.append(f"{sign} {value}")
        annotation = str(field.annotation)
        if annotation.startswith("typing.Literal"):
            bounds.append(", ".join(f"`{choice}`" for choice in field.annotation.__args__))  # type: ignore[union-attr]  # a Literal has __args__
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `AUTHSERVER_{name.upper()}` | {shown} | {'; '.join(bounds)} | {description} |")
    return "\n".join(rows) + "\n"
