"""create_app(settings): the Starlette application, with everything built once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from authserver import backchannel
from authserver.admin import problems as admin_problems
from authserver.admin.routes import routes as admin_routes
from authserver.cache import redis_urls
from authserver.clock import Clock, system_clock
from authserver.concurrency import run_sync
from authserver.endpoints import (
    device_authorization,
    discovery,
    health,
    introspect,
    jwks,
    metrics,
    protocol,
    pushed_authorization,
    revoke,
    token,
    userinfo,
)
from authserver.interaction import (
    account,
    account_data,
    account_delete,
    authorize,
    consent,
    device,
    email_change,
    login,
    logout,
    mfa,
    passkeys,
    password_reset,
    reauth,
    signup,
    upstream,
    verify_email,
)
from authserver.jobs.outbox import OutboxRunner
from authserver.jobs.purge import Purger
from authserver.logs import configure_logging
from authserver.metrics import Metrics, RequestMetrics
from authserver.oauth.keys import KeyGenerator, generate_rsa
from authserver.services import Services, build_services
from authserver.settings import Settings, load_settings
from authserver.web import theme
from authserver.web.errors import HANDLERS
from authserver.web.middleware import EdgeMiddleware
from authserver.web.routing import IndexedRouter

logger = logging.getLogger("authserver")


class ConfigurationError(RuntimeError):
    pass


# How long shutdown waits for the delivery loop and the purger to stop.
SHUTDOWN_WAIT_SECONDS = 10.0


def check_settings(settings: Settings) -> None:
    problems = settings.production_problems()
    if problems:
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))
    if settings.redis_url:
        try:
            redis_urls.parse(settings.redis_url)
        except ValueError as exc:
            raise ConfigurationError(f"AUTHSERVER_REDIS_URL: {exc}") from None


def _start(settings: Settings, metrics: Metrics, clock: Clock, key_generator: KeyGenerator) -> Services:
    svc = build_services(settings, metrics=metrics, clock=clock, key_generator=key_generator)
    try:
        svc.keys.ensure_key()
        svc.keys.check_secret()  # a wrong AUTHSERVER_SECRET_KEY must stop start-up, not serve half-working
        svc.keyring.reload()
        svc.denylist.warm()
    except Exception:
        svc.close()
        raise
    return svc


def create_app(
    settings: Settings, *, clock: Clock = system_clock, key_generator: KeyGenerator = generate_rsa
) -> Starlette:
    """`clock`: what every expiry and "now" decision reads; `key_generator`: what makes the first signing
    key of an empty store (tests pass both)."""
    check_settings(settings)
    app_metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        svc = await run_sync(_start, settings, app_metrics, clock, key_generator)
        app.state.discovery = discovery.published(svc)
        handlers = {
            "email": svc.mail.deliver,
            password_reset.REQUEST_KIND: password_reset.reset_request_handler(svc),
            backchannel.KIND: svc.backchannel.deliver,
        }
        runner = OutboxRunner(svc.store, svc.outbox, handlers, settings)
        delivery = asyncio.create_task(runner.run(), name="outbox-delivery")
        background = [delivery]
        if settings.purge_interval_seconds > 0:
            background.append(asyncio.create_task(Purger(svc.store, settings, svc.clock).run(), name="purge"))
        try:
            yield {"services": svc}
        finally:
            for task in background:
                task.cancel()
            # A delivery or purge batch running in a worker thread cannot be interrupted; waiting for it is
            # bounded, so a stuck SMTP or database call cannot hold shutdown (its outbox lease lapses and
            # another sender retries the message).
            await asyncio.wait(background, timeout=SHUTDOWN_WAIT_SECONDS)
            await svc.cache.close_async()
            await run_sync(svc.close)

    routes = [
        Route("/.well-known/openid-configuration", discovery.discovery, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", discovery.discovery, methods=["GET"]),
        Route("/jwks.json", jwks.jwks, methods=["GET"]),
        Route("/token", token.token, methods=["POST"]),
        Route("/par", pushed_authorization.pushed_authorization, methods=["POST"]),
        Route("/introspect", introspect.introspect, methods=["POST"]),
        Route("/revoke", revoke.revoke, methods=["POST"]),
        Route("/authorize", authorize.authorize, methods=["GET", "POST"]),
        Route("/login", login.login, methods=["GET", "POST"]),
        Route("/login/passkey", login.passkey_login, methods=["POST"]),
        Route("/login/upstream", upstream.start, methods=["POST"]),
        Route("/login/upstream/{name}/callback", upstream.callback, methods=["GET"]),
        Route("/consent", consent.consent, methods=["GET", "POST"]),
        Route("/mfa", mfa.mfa, methods=["GET", "POST"]),
        Route("/signup", signup.signup, methods=["GET", "POST"]),
        Route("/email/verify", verify_email.verify, methods=["GET", "POST"]),
        Route("/email/verify/resend", verify_email.resend, methods=["POST"]),
        Route("/password/forgot", password_reset.forgot, methods=["GET", "POST"]),
        Route("/password/reset", password_reset.reset, methods=["GET", "POST"]),
        Route("/account", account.account, methods=["GET"]),
        Route("/account/password", account.change_password, methods=["POST"]),
        Route("/account/reauth", reauth.reauth, methods=["GET", "POST"]),
        Route("/account/passkeys", passkeys.add, methods=["POST"]),
        Route("/account/passkeys/rename", passkeys.rename, methods=["POST"]),
        Route("/account/passkeys/remove", passkeys.remove, methods=["POST"]),
        Route("/account/upstreams/connect", upstream.connect, methods=["POST"]),
        Route("/account/upstreams/disconnect", upstream.disconnect, methods=["POST"]),
        Route("/account/reauth/upstream", upstream.reauth, methods=["POST"]),
        Route("/passkeys/options", passkeys.options, methods=["POST"]),
        Route("/account/mfa/totp/start", account.totp_start, methods=["POST"]),
        Route("/account/mfa/totp", account.totp_enrol, methods=["GET", "POST"]),
        Route("/account/mfa/totp/disable", account.totp_disable, methods=["POST"]),
        Route("/account/mfa/backup-codes", account.regenerate_backup_codes, methods=["POST"]),
        Route("/account/sessions/end", account.end_session, methods=["POST"]),
        Route("/account/sessions/end-others", account.end_other_sessions, methods=["POST"]),
        Route("/account/apps/revoke", account.revoke_app, methods=["POST"]),
        Route("/account/export", account_data.export, methods=["POST"]),
        Route("/account/delete", account_delete.delete, methods=["POST"]),
        Route("/account/email", email_change.request_change, methods=["POST"]),
        Route("/account/email/confirm", email_change.confirm, methods=["GET", "POST"]),
        Route("/userinfo", userinfo.userinfo, methods=["GET", "POST"]),
        Route("/device_authorization", device_authorization.device_authorization, methods=["POST"]),
        Route("/device", device.device, methods=["GET", "POST"]),
        Route("/device/confirm", device.confirm, methods=["GET", "POST"]),
        Route("/logout", logout.logout, methods=["GET", "POST"]),
        Route(theme.BRAND_CSS, theme.brand_css_endpoint(settings), methods=["GET"]),
        Mount("/static", theme.static_files(settings), name="static"),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        *admin_routes(),
    ]
    paths = frozenset(r.path for r in routes if isinstance(r, Route))
    observer = RequestMetrics(
        metrics=app_metrics,
        routes=paths,
        access_log=settings.access_log,
        sample_rate=settings.access_log_sample_rate,
    )
    app = Starlette(
        middleware=[
            Middleware(
                EdgeMiddleware,
                max_body_bytes=settings.max_body_bytes,
                https=settings.secure_cookies,
                observer=observer,
            ),
        ],
        exception_handlers={**HANDLERS, **protocol.HANDLERS, **admin_problems.HANDLERS},
    )
    # The routes, found by one dictionary lookup rather than Starlette's scan of the list.
    app.router = IndexedRouter(routes, lifespan=lifespan)
    return app


def app_from_env() -> Starlette:
    """The uvicorn factory: every worker builds its app from the same environment."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
