"""Table definitions used by queries. The schema itself is created only by migrations/."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(200)),
    sa.Column("token_endpoint_auth_method", sa.String(40), nullable=False),
    sa.Column("grant_types", sa.JSON, nullable=False),
    sa.Column("redirect_uris", sa.JSON, nullable=False),
    sa.Column("post_logout_redirect_uris", sa.JSON, nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("resources", sa.JSON, nullable=False),
    sa.Column("jwks", sa.JSON),
    sa.Column("first_party", sa.Boolean, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("require_mfa", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("require_par", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("require_signed_request_object", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("dpop_bound_access_tokens", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("backchannel_logout_uri", sa.Text),
    sa.Column("backchannel_logout_session_required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("introspect_audiences", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    # RFC 7591 §2 metadata shown to people (client_uri, logo_uri, policy_uri, tos_uri, contacts).
    sa.Column("client_metadata", sa.JSON, nullable=False, server_default="{}"),
    sa.Column("registered_by", sa.String(20), nullable=False, server_default="cli"),
    # RFC 7592 §3: the SHA-256 of the registration access token of a dynamically registered client.
    sa.Column("registration_token_hash", sa.String(64)),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(150), nullable=False, unique=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("email_verified", sa.Boolean, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("alg", sa.String(10), nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("private_key_enc", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("activates_at", sa.BigInteger, nullable=False),
)

browser_sessions = sa.Table(
    "browser_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("sid", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("auth_time", sa.BigInteger, nullable=False),
    sa.Column("amr", sa.JSON, nullable=False),
    sa.Column("acr", sa.String(100), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("reauth_at", sa.BigInteger),
    sa.Column("reauth_amr", sa.JSON),
    sa.Column("upstream", sa.JSON),
)

auth_codes = sa.Table(
    "auth_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("grant_id", sa.String(64), nullable=False),
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("nonce", sa.Text),
    sa.Column("code_challenge", sa.String(128)),
    sa.Column("code_challenge_method", sa.String(10)),
    sa.Column("auth_time", sa.BigInteger, nullable=False),
    sa.Column("amr", sa.JSON, nullable=False),
    sa.Column("acr", sa.String(100), nullable=False),
    sa.Column("sid", sa.String(64), nullable=False),
    sa.Column("claims", sa.JSON),
    sa.Column("resources", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("used_at", sa.BigInteger),
    sa.Column("dpop_jkt", sa.String(64)),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("grant_id", sa.String(64), nullable=False),
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("sid", sa.String(64), nullable=False),
    sa.Column("offline", sa.Boolean, nullable=False),
    sa.Column("auth_time", sa.BigInteger, nullable=False),
    sa.Column("amr", sa.JSON, nullable=False),
    sa.Column("acr", sa.String(100), nullable=False),
    sa.Column("claims", sa.JSON),
    sa.Column("resources", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("idle_expires_at", sa.BigInteger, nullable=False),
    sa.Column("used_at", sa.BigInteger),
    sa.Column("revoked_at", sa.BigInteger),
    sa.Column("dpop_jkt", sa.String(64)),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

device_codes = sa.Table(
    "device_codes",
    metadata,
    sa.Column("device_code_hash", sa.String(64), primary_key=True),
    sa.Column("user_code", sa.String(16), nullable=False, unique=True),
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("resources", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("auth_time", sa.BigInteger),
    sa.Column("amr", sa.JSON),
    sa.Column("acr", sa.String(100)),
    sa.Column("sid", sa.String(64)),
    sa.Column("interval", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("consumed_at", sa.BigInteger),
    sa.Column("acr_values", sa.JSON),
)

totp_factors = sa.Table(
    "totp_factors",
    metadata,
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("secret_enc", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("confirmed_at", sa.BigInteger),
    sa.Column("last_step", sa.BigInteger),
)

backup_codes = sa.Table(
    "backup_codes",
    metadata,
    sa.Column("code_hash", sa.String(100), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("used_at", sa.BigInteger),
)

# RFC 7591 §3: initial access tokens for dynamic client registration (`client registration-token`).
registration_tokens = sa.Table(
    "registration_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("uses_left", sa.Integer),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(36)),
    sa.Column("client_id", sa.String(64)),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(300)),
    sa.Column("data", sa.JSON, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("destination", sa.String(320), nullable=False),
    sa.Column("summary", sa.String(300), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("last_error", sa.String(500)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("sent_at", sa.BigInteger),
)

account_links = sa.Table(
    "account_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("purpose", sa.String(20), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("used_at", sa.BigInteger),
)

session_clients = sa.Table(
    "session_clients",
    metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(300), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("kind", "value", name="uq_revocations_kind_value"),
)

passkeys = sa.Table(
    "passkeys",
    metadata,
    sa.Column("credential_id", sa.String(1400), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("sign_count", sa.BigInteger, nullable=False),
    sa.Column("transports", sa.JSON, nullable=False),
    sa.Column("aaguid", sa.String(36), nullable=False),
    sa.Column("backup_eligible", sa.Boolean, nullable=False),
    sa.Column("backed_up", sa.Boolean, nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger),
)

upstreams = sa.Table(
    "upstreams",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("issuer", sa.String(500), nullable=False),
    sa.Column("client_id", sa.String(500), nullable=False),
    sa.Column("client_secret_enc", sa.Text, nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("authorization_endpoint", sa.String(1000), nullable=False),
    sa.Column("token_endpoint", sa.String(1000), nullable=False),
    sa.Column("userinfo_endpoint", sa.String(1000)),
    sa.Column("jwks_uri", sa.String(1000)),
    sa.Column("id_token_algs", sa.JSON, nullable=False),
    sa.Column("token_endpoint_auth_method", sa.String(40), nullable=False),
    sa.Column("iss_parameter_supported", sa.Boolean, nullable=False),
    sa.Column("claim_map", sa.JSON, nullable=False),
    sa.Column("emails_endpoint", sa.String(1000)),
    sa.Column("signup", sa.Boolean, nullable=False),
    sa.Column("link_by_email", sa.Boolean, nullable=False),
    sa.Column("trust_mfa", sa.Boolean, nullable=False),
    sa.Column("mfa_acr_values", sa.JSON, nullable=False),
    sa.Column("preset", sa.String(20)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

upstream_identities = sa.Table(
    "upstream_identities",
    metadata,
    sa.Column("upstream", sa.String(40), sa.ForeignKey("upstreams.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("subject", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger),
    # One account per upstream per user: linking a second one of the same upstream is refused.
    sa.UniqueConstraint("user_id", "upstream", name="uq_upstream_identities_user_upstream"),
)
