"""Everything a request needs, built once per process from Settings and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from authserver.audit import Events
from authserver.backchannel import BackchannelLogout
from authserver.cache import Cache, build_cache
from authserver.client_cache import ClientCache
from authserver.clock import Clock, system_clock
from authserver.delivery.email import Mailer
from authserver.delivery.smtp import build_transport
from authserver.i18n import Catalogs
from authserver.metrics import Metrics
from authserver.oauth.client_auth import ClientAuthenticator
from authserver.oauth.keyring import KeyManager, KeyPolicy, KeyRing
from authserver.oauth.keys import KeyGenerator, generate_rsa
from authserver.oauth.server import AuthorizationServer
from authserver.oauth.token_lookup import TokenLookup
from authserver.oauth.tokens import IdTokens, TokenIssuer
from authserver.outbox import Outbox
from authserver.ratelimit import RateLimiter
from authserver.resources import resource_dir
from authserver.revocations import Denylist
from authserver.security.crypto import Sealer
from authserver.security.egress import EgressPolicy, parse_networks
from authserver.security.passwords import Passwords
from authserver.security.secrets import SecretHasher
from authserver.security.throttle import Throttle
from authserver.security.webauthn import RelyingParty
from authserver.settings import Settings
from authserver.store import Store
from authserver.store.sql import SqlStore
from authserver.upstream.signin import Federation
from authserver.web.pages import Branding, Pages
from authserver.web.theme import BRAND_CSS, template_dirs


@dataclass
class Services:
    settings: Settings
    store: Store
    cache: Cache
    keys: KeyManager
    keyring: KeyRing
    hasher: SecretHasher
    # User passwords: argon2id at AUTHSERVER_ARGON2_COST, passed to whatever hashes or checks one.
    passwords: Passwords
    server: AuthorizationServer
    events: Events
    clients: ClientCache
    pages: Pages
    limits: RateLimiter
    metrics: Metrics
    # Every guessable secret (passwords, second-factor codes, device user codes) is counted here.
    throttle: Throttle
    # Messages stored with their cause and sent by the delivery loop (jobs/outbox.py).
    outbox: Outbox
    mail: Mailer
    # Revoked tokens and grants, used assertion ids: in the cache and the database.
    denylist: Denylist
    # Logout tokens for the clients of a session that ended (OIDC Back-Channel Logout), via the outbox.
    backchannel: BackchannelLogout
    # Passkeys: the RP ID and origin every WebAuthn ceremony is checked against.
    rp: RelyingParty
    # What every expiry and "now" decision reads (codes, links, sessions, tokens, proofs, rate-limit windows, the
    # in-process cache's TTLs): one clock, passed explicitly (authserver/clock.py).
    clock: Clock
    # Sign-in through upstream identity providers: pending sign-ins, their key sets, the calls to them.
    federation: Federation

    def close(self) -> None:
        self.cache.close()
        self.store.close()


def services(request: Request) -> Services:
    """This request's Services: built once in the app's lifespan, handed to each request in its state."""
    svc: Services = request.state.services
    return svc


def key_policy(settings: Settings) -> KeyPolicy:
    return KeyPolicy(
        jwks_max_age=settings.jwks_max_age,
        key_refresh_seconds=settings.key_refresh_seconds,
        max_token_ttl=settings.max_token_ttl,
    )


def build_store(settings: Settings) -> Store:
    return SqlStore.from_url(settings.database_url, pool_size=settings.db_pool_size)


def build_catalogs(settings: Settings) -> Catalogs:
    return Catalogs(resource_dir("locales"), default=settings.default_language)


def build_mailer(settings: Settings, catalogs: Catalogs | None = None, outbox: Outbox | None = None) -> Mailer:
    outbox = outbox or Outbox(settings.secret_bytes())
    catalogs = catalogs or build_catalogs(settings)
    return Mailer(
        template_dirs(settings), settings, outbox, build_transport(settings), catalogs, product=settings.product_name
    )


def build_denylist(settings: Settings, cache: Cache, store: Store, clock: Clock = system_clock) -> Denylist:
    return Denylist(cache, store, sync_seconds=settings.revocation_sync_seconds, clock=clock)


def build_key_manager(settings: Settings, store: Store, generate: KeyGenerator = generate_rsa) -> KeyManager:
    sealer = Sealer(settings.secret_bytes(), "signing-key")
    return KeyManager(store, sealer, key_policy(settings), settings.signing_key_bits, generate)


def logout_token(keyring: KeyRing, id_tokens: IdTokens, client_id: str, subject: str, sid: str) -> str:
    """Sign a back-channel logout token with the current key (the delivery loop may run between requests)."""
    keyring.refresh_if_stale()
    return id_tokens.logout_token(client_id=client_id, subject=subject, sid=sid)


def egress_policy(settings: Settings) -> EgressPolicy:
    return EgressPolicy(settings.env == "production", parse_networks(settings.egress_allowed_networks))


def build_services(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    clock: Clock = system_clock,
    key_generator: KeyGenerator = generate_rsa,
) -> Services:
    store = build_store(settings)
    cache = build_cache(settings.redis_url, settings.cache_prefix, clock)
    keys = build_key_manager(settings, store, key_generator)
    keyring = KeyRing(store, keys.sealer, keys.policy, settings.key_refresh_seconds)
    hasher = SecretHasher(settings.secret_bytes())
    events = Events(store)
    issuer = TokenIssuer(settings.issuer, keyring, settings.access_token_ttl, clock)
    clients = ClientCache(store, settings.client_cache_seconds)
    # RFC 7523 §3 item 3: the assertion's audience is the token endpoint (or the issuer, which
    # OIDC Core §9 and most client libraries also use).
    # RFC 9126 §2: at the PAR endpoint its own URL is an accepted audience too.
    audiences = [settings.issuer, settings.issuer + "/token", settings.issuer + "/par"]
    denylist = build_denylist(settings, cache, store, clock)
    authenticator = ClientAuthenticator(clients.get, hasher, denylist, audiences, clock)
    metrics = metrics or Metrics()
    pool = store.db.engine.pool if isinstance(store, SqlStore) else None
    if pool is not None:
        metrics.watch_pool(
            lambda: (
                getattr(pool, "size", lambda: 0)(),
                getattr(pool, "checkedout", lambda: 0)(),
                max(0, getattr(pool, "overflow", lambda: 0)()),
            )
        )
    limits = RateLimiter(settings, cache, clock, on_reject=lambda name: metrics.rate_limited.labels(name).inc())
    catalogs = build_catalogs(settings)
    mail = build_mailer(settings, catalogs)
    id_tokens = IdTokens(settings.issuer, keyring, settings.id_token_ttl, clock)
    tokens = TokenLookup(issuer, denylist, clients.get, store, events, store.get_user, clock)
    server = AuthorizationServer(
        settings=settings,
        store=store,
        cache=cache,
        limits=limits,
        authenticator=authenticator,
        issuer=issuer,
        id_tokens=id_tokens,
        tokens=tokens,
        events=events,
        clock=clock,
    )
    return Services(
        settings=settings,
        store=store,
        cache=cache,
        keys=keys,
        keyring=keyring,
        hasher=hasher,
        passwords=Passwords.from_settings(settings),
        server=server,
        events=events,
        clients=clients,
        pages=Pages(
            template_dirs(settings),
            catalogs,
            Branding(
                product_name=settings.product_name,
                logo_url=settings.logo_url,
                support_url=settings.support_url,
                brand_css=BRAND_CSS if settings.primary_color else None,
            ),
        ),
        limits=limits,
        metrics=metrics,
        throttle=Throttle.from_settings(cache, settings, events),
        outbox=mail.outbox,
        mail=mail,
        denylist=denylist,
        backchannel=BackchannelLogout(
            store,
            mail.outbox,
            lambda client_id, subject, sid: logout_token(keyring, id_tokens, client_id, subject, sid),
            events,
            egress_policy(settings),
            timeout=settings.backchannel_logout_timeout,
            max_age=settings.backchannel_logout_max_age,
            clock=clock,
        ),
        rp=RelyingParty(settings.rp_id, settings.rp_origin, settings.product_name),
        clock=clock,
        federation=Federation(
            cache,
            issuer=settings.issuer,
            secret_key=settings.secret_bytes(),
            policy=egress_policy(settings),
            timeout=settings.upstream_timeout,
            jwks_ttl=settings.upstream_jwks_cache_seconds,
            ttl=settings.interaction_ttl,
        ),
    )
