"""GET/POST /signup: a new account (when AUTHSERVER_SIGNUP=open), then a link to verify its email.

The answer never says whether an email address is taken: a sign-up with a known address ends on the
same "check your email" page, and that address gets "you already have an account" instead of a
verification link. (A taken username is said plainly: usernames are not secret, and the person must
choose another.) Both paths cost the same argon2 hash. Sign-ups are rate-limited per source address and
per email address. Reached directly or through OIDC prompt=create (the `interaction` continues the
authorization request after sign-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from authserver.concurrency import run_sync
from authserver.domain import OutboxMessage, User
from authserver.i18n import N_
from authserver.interaction import links, state
from authserver.interaction.events import client_ip, emit
from authserver.interaction.page import SIGN_IN_PAGE, Page, load_interaction, open_page
from authserver.manage import users as rules
from authserver.security import passwords
from authserver.services import Services, services
from authserver.store import DuplicateError
from authserver.web.addresses import source_key
from authserver.web.cookies import attach_csrf, csrf_token
from authserver.web.pages import PageError

VERIFY_PATH = "/email/verify"


class Outcome(StrEnum):
    CREATED = "created"
    USERNAME_TAKEN = "username_taken"
    EMAIL_TAKEN = "email_taken"


@dataclass(frozen=True)
class Registration:
    outcome: Outcome
    user_id: str | None


def require_open(svc: Services) -> None:
    if svc.settings.signup != "open":
        raise PageError(
            N_("This site does not offer sign-up. Ask the people who run it for an account."),
            status_code=404,
            title=N_("Sign-up is closed"),
        )


def verification_message(svc: Services, user: User, token: str) -> OutboxMessage:
    return svc.mail.compose(
        "verify",
        user.email,
        name=user.name or user.username,
        link=links.url(svc.settings.issuer, VERIFY_PATH, token),
        valid_for=svc.settings.verify_link_ttl,
    )


def register(svc: Services, username: str, email: str, name: str, password: str) -> Registration:
    """Create the account with its verification link and email in one transaction (blocking)."""
    user = rules.new_user(
        svc.passwords, username, email, name, password, now=int(svc.clock())
    )  # the hash first: every path pays for it
    for _ in range(2):  # a second pass only when a concurrent sign-up took a name between check and insert
        if svc.store.find_user(user.username) is not None:
            return Registration(Outcome.USERNAME_TAKEN, None)
        existing = svc.store.find_user(user.email)
        if existing is not None:
            notice = svc.mail.compose(
                "account_exists",
                existing.email,
                name=existing.name or existing.username,
                username=existing.username,
                sign_in=f"{svc.settings.issuer}/account",
                forgot=f"{svc.settings.issuer}/password/forgot" if svc.settings.password_reset else None,
            )
            svc.store.enqueue([notice])
            return Registration(Outcome.EMAIL_TAKEN, existing.id)
        token, link = links.new_link(user.id, links.VERIFY, user.email, svc.settings.verify_link_ttl, int(svc.clock()))
        try:
            svc.store.add_user(user, link=link, messages=[verification_message(svc, user, token)])
        except DuplicateError:
            continue
        return Registration(Outcome.CREATED, user.id)
    return Registration(Outcome.USERNAME_TAKEN, None)


def _page(
    svc: Services,
    request: Request,
    it: state.Interaction | None,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    response = svc.pages.render(
        "signup.html",
        {
            "csrf_token": csrf_token(request, svc.settings),
            "interaction": it.id if it else "",
            "sign_in": _continue_url(it),
            "values": values,
            "errors": errors,
            "min_length": passwords.MIN_LENGTH,
        },
        status=status,
    )
    attach_csrf(request, response, svc.settings)
    return response


def _continue_url(it: state.Interaction | None) -> str:
    return "/login?" + urlencode({"interaction": it.id}) if it else "/account"


async def _interaction(request: Request, page: Page) -> state.Interaction | None:
    """Sign-up continues a pending authorization (prompt=create, or the link on the login page) or stands alone.
    It takes what the sign-in page takes (every kind and step: the login page links here), and moves no step."""
    interaction_id = page.param("interaction")
    if not interaction_id:
        return None
    return await load_interaction(request, page.svc, interaction_id, page.browser, SIGN_IN_PAGE)


# The sentences _check (and the reset page) make of the account rules' words, listed for the catalogs:
# the pages look each whole sentence up when they show it (tests/http/test_languages.py checks they match).
SENTENCES = (
    N_("Use 1-150 letters, digits, '.', '_' or '-', starting with a letter or digit."),
    N_("Use an email address such as name@example.com."),
    N_("Use at most 200 characters on one line."),
    N_("Password must be at least 12 characters."),
    N_("Password must be at most 128 characters."),
    N_("Password must not be the username or email."),
    N_("Password is too common: it appears in lists of breached passwords."),
    N_("Password is too easy to guess: use a longer phrase of unrelated words."),
)


def _check(values: dict[str, str], password: str) -> dict[str, str]:
    errors = {}
    for field, problem in (
        ("username", rules.username_problem(values["username"])),
        ("email", rules.email_problem(values["email"])),
        ("name", rules.name_problem(values["name"])),
    ):
        if problem:
            errors[field] = f"Use {problem}."
    if not errors:
        problem = rules.password_problem(password, username=values["username"], email=values["email"])
        if problem:
            errors["password"] = problem[0].upper() + problem[1:] + "."
    return errors


async def signup(request: Request) -> Response:
    require_open(services(request))
    page = await open_page(request)
    svc, form = page.svc, page.form
    it = await _interaction(request, page)
    if not page.posted:
        hint = (it.login_hint or "") if it else ""
        values = {"username": "", "email": hint if "@" in hint else "", "name": ""}
        return _page(svc, request, it, values, {})

    values = {
        "username": form.get("username", "").strip()[:200],
        "email": form.get("email", "").strip()[: rules.MAX_EMAIL + 1],
        "name": form.get("name", "").strip()[: rules.MAX_NAME + 1],
    }
    password = form.get("password", "")
    if len(password) > passwords.MAX_LENGTH * 4:
        password = password[: passwords.MAX_LENGTH + 1]  # refused by the policy, never hashed at full length
    errors = await run_sync(_check, values, password)
    if errors:
        return _page(svc, request, it, values, errors, status=400)

    def throttle() -> None:
        svc.limits.hit("signup_ip", source_key(client_ip(request)))
        svc.limits.hit("mail_address", values["email"].lower())

    await run_sync(throttle)
    result = await run_sync(register, svc, values["username"], values["email"], values["name"], password)
    if result.outcome is Outcome.USERNAME_TAKEN:
        await emit(svc, request, "user.registration_refused", reason="username_taken")
        errors = {"username": "That username is taken. Choose another."}
        return _page(svc, request, it, values, errors, status=400)
    svc.outbox.wake()
    if result.outcome is Outcome.CREATED:
        await emit(svc, request, "user.registered", user_id=result.user_id, client_id=it.client_id if it else None)
    else:
        await emit(svc, request, "user.registration_refused", user_id=result.user_id, reason="email_taken")
    response = svc.pages.render(
        "check_email.html",
        {"email": values["email"].lower(), "continue_url": _continue_url(it), "interaction": bool(it)},
    )
    attach_csrf(request, response, svc.settings)
    return response
