"""Sign-up and email verification through HTTP, with a real SMTP server: the form, the policy, no
disclosure of taken addresses, throttling, OIDC prompt=create, verification links (used, reused, tampered,
expired, superseded), AUTHSERVER_REQUIRE_VERIFIED_EMAIL, and an SMTP outage during sign-up."""

from __future__ import annotations

import html
import re
import time

import pytest

from authserver.settings import Settings
from tests.emails import APP_MAIL, confirm, open_link, path_of, signup
from tests.helpers import PASSWORD, forms, query, submit
from tests.mailbox import Mailbox, link_to, text_of
from tests.pages import REDIRECT, SIGN_IN_CLIENT, account_sign_in, alert, id_claims, sign_in_to, start, tokens, walk

BOB = "purple monkey dishwasher"
CHECK = "Check your email"
EXPIRED = "This link has expired, was already used, or a newer one was sent since."


@pytest.fixture
def site(make_app, mailbox):  # type: ignore[no-untyped-def]
    return make_app(signup="open", smtp_url=mailbox.url, **APP_MAIL)


@pytest.fixture
def client(register) -> dict:  # type: ignore[no-untyped-def]
    return register(*SIGN_IN_CLIENT, name="Example App")


def h1(page) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.search(r"<h1>(.*?)</h1>", page.text, re.DOTALL).group(1).strip())


def field_error(page, name: str) -> str | None:  # type: ignore[no-untyped-def]
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', page.text, re.DOTALL)
    return html.unescape(found.group(1)) if found else None


def user(cli, name: str) -> dict | None:  # type: ignore[no-untyped-def]
    result = cli("user", "show", name, "--json")
    return result.json() if result.code == 0 else None


def userinfo(http, client: dict, callback: dict, verifier: str) -> dict:  # type: ignore[no-untyped-def]
    access = tokens(http, client, callback, verifier)["access_token"]
    response = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 200, response.text
    return response.json()


def events(cli, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e for e in cli("audit", "list", "--json").json() if e["event"] == name]


# --- closed (the default) -----------------------------------------------------------------------


def test_signup_is_closed_by_default(make_app, client):
    http = make_app()
    for response in (http.get("/signup"), http.post("/signup", data={"username": "x"})):
        assert response.status_code == 404
        assert h1(response) == "Sign-up is closed"
    assert "create" not in http.get("/.well-known/openid-configuration").json()["prompt_values_supported"]
    response, _, params = start(http, client, prompt="create")
    assert response.status_code == 302
    callback = query(response.headers["location"])
    assert callback["error"] == "invalid_request" and callback["state"] == params["state"]
    login = http.get(start(http, client)[0].headers["location"])
    assert "/signup" not in login.text


# --- the form ------------------------------------------------------------------------------------


def test_signup_form_and_verification_link(site, cli, mailbox, client):
    assert "create" in site.get("/.well-known/openid-configuration").json()["prompt_values_supported"]
    page = site.get("/signup")
    (form,) = forms(page.text)
    assert form["action"] == "/signup" and form["method"] == "post"
    assert set(form["fields"]) == {"csrf_token", "username", "email", "name", "password"}
    assert form["inputs"]["password"]["autocomplete"] == "new-password"

    response = signup(site, username="Bob", email="Bob@Example.com")
    assert response.status_code == 200 and h1(response) == CHECK
    assert "bob@example.com" in response.text
    created = user(cli, "bob")
    assert created["email"] == "bob@example.com" and created["email_verified"] is False
    assert [e["user_id"] for e in events(cli, "user.registered")] == [created["id"]]

    # Signed in before verifying (not required by default): email_verified is false.
    callback, verifier, _ = sign_in_to(site, client, username="bob", password=BOB)
    assert userinfo(site, client, callback, verifier)["email_verified"] is False

    page, message = open_link(site, mailbox, "bob@example.com", "/email/verify")
    assert message["Subject"] == "Confirm your email address"
    assert "for 24 hours" in text_of(message)
    assert h1(page) == "Confirm your email address" and "bob@example.com" in page.text
    assert user(cli, "bob")["email_verified"] is False, "opening the link changes nothing (mail scanners)"
    done = confirm(site, page)
    assert done.status_code == 200 and h1(done) == "Email address confirmed"
    assert user(cli, "bob")["email_verified"] is True
    assert len(events(cli, "email.verified")) == 1
    callback, verifier, _ = sign_in_to(site, client, username="bob", password=BOB, prompt="login")
    assert userinfo(site, client, callback, verifier)["email_verified"] is True

    # The link is single use: opening it again, or replaying its POST, is an error page.
    again = site.get(path_of(link_to(message, "/email/verify")))
    assert again.status_code == 400 and EXPIRED in alert(again)
    replay = submit(site, page)
    assert replay.status_code == 400 and EXPIRED in alert(replay)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": ""}, "username", "letters, digits"),
        ({"username": "-bob"}, "username", "starting with a letter or digit"),
        ({"username": "bob smith"}, "username", "letters, digits"),
        ({"username": "b" * 151}, "username", "1-150"),
        ({"email": ""}, "email", "email address"),
        ({"email": "bob"}, "email", "email address"),
        ({"email": "bob@example.com, eve@example.com"}, "email", "email address"),
        ({"email": "b" * 300 + "@example.com"}, "email", "email address"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"name": "Bob\nBcc: eve@example.com"}, "name", "one line"),
        ({"password": ""}, "password", "at least 12"),
        ({"password": "short"}, "password", "at least 12"),
        ({"password": "x" * 129}, "password", "at most 128"),
        ({"password": "password1234"}, "password", "too"),
        ({"password": "bob@example.com"}, "password", "username or email"),
        ({"password": "a" * 5000}, "password", "at most 128"),
    ],
)
def test_bad_input_gets_a_field_error_and_creates_nothing(site, cli, mailbox, fields, field, message):
    response = signup(site, **fields)
    assert response.status_code == 400
    assert message in (field_error(response, field) or ""), response.text
    assert alert(response) == "Please correct the fields marked below."
    assert user(cli, "bob") is None
    (form,) = forms(response.text)
    if field != "password":
        assert form["inputs"]["password"].get("value") is None, "the password is never sent back"
    time.sleep(0.3)
    assert mailbox.messages == []


def test_form_without_csrf_or_malformed_is_refused(site, cli):
    site.get("/signup")
    no_token = site.post("/signup", data={"username": "bob", "email": "bob@example.com", "password": BOB})
    assert no_token.status_code == 403 and h1(no_token) == "Please try again"
    bad_type = site.post("/signup", content=b"{}", headers={"content-type": "application/json"})
    assert bad_type.status_code == 400 and "This page received a request it cannot read" in alert(bad_type)
    assert "invalid_request: Content-Type must be" in bad_type.text  # the technical detail
    repeated = site.post(
        "/signup", content=b"username=a&username=b", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert repeated.status_code == 400
    expired = site.get("/signup?interaction=nonsense")
    assert expired.status_code == 400 and h1(expired) == "Sign-in expired"
    assert user(cli, "bob") is None


def test_taken_username_is_said(site, cli, alice):
    response = signup(site, username="ALICE")
    assert response.status_code == 400
    assert field_error(response, "username") == "That username is taken. Choose another."
    assert user(cli, "bob@example.com") is None
    assert events(cli, "user.registration_refused")[0]["data"]["reason"] == "username_taken"


def test_taken_email_is_not_disclosed_and_its_owner_is_told(site, cli, mailbox, alice):
    fresh = signup(site, username="carol", email="carol@example.com")
    taken = signup(site, username="eve", email="Alice@Example.com")
    assert fresh.status_code == taken.status_code == 200
    assert taken.text.replace("alice@example.com", "X") == fresh.text.replace("carol@example.com", "X")
    assert user(cli, "eve") is None
    message = mailbox.last("alice@example.com")
    assert message["Subject"] == "You already have an account"
    assert "username alice" in text_of(message)
    assert link_to(message, "/account") == "http://testserver/account"
    assert "/email/verify" not in text_of(message)
    refused = events(cli, "user.registration_refused")
    assert refused[0]["data"]["reason"] == "email_taken" and refused[0]["user_id"] == alice["id"]
    assert mailbox.last("carol@example.com")["Subject"] == "Confirm your email address"


def test_signup_is_throttled_per_address_and_per_email(make_app, cli, mailbox):
    http = make_app(signup="open", smtp_url=mailbox.url, rate_limit_signup_ip="2/hour", **APP_MAIL)
    assert signup(http, username="u1", email="u1@example.com").status_code == 200
    assert signup(http, username="u2", email="u2@example.com").status_code == 200
    third = signup(http, username="u3", email="u3@example.com")
    assert third.status_code == 429 and int(third.headers["retry-after"]) > 0
    assert h1(third) == "Too many attempts"
    assert user(cli, "u3") is None

    http = make_app(signup="open", smtp_url=mailbox.url, rate_limit_mail_address="1/hour", **APP_MAIL)
    assert signup(http, username="v1", email="v@example.com").status_code == 200
    # The same answer whether or not the address already has an account: the limit is per address typed.
    assert signup(http, username="v2", email="v@example.com").status_code == 429


def test_a_race_for_one_username_creates_one_account(site, cli):
    from concurrent.futures import ThreadPoolExecutor

    from tests.pages import browser_from

    browsers = [browser_from(site, f"10.0.0.{i}") for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: signup(b[1], email=f"bob{b[0]}@example.com"), enumerate(browsers)))
    assert sorted(r.status_code for r in results) == [200, 400, 400, 400]
    assert len([u for u in cli("user", "list", "--json").json() if u["username"] == "bob"]) == 1


# --- prompt=create --------------------------------------------------------------------------------


def test_prompt_create_signs_up_then_continues_the_authorization(site, cli, mailbox, client):
    response, verifier, params = start(site, client, prompt="create", login_hint="dave@example.com")
    assert response.status_code == 302 and response.headers["location"].startswith("/signup?interaction=")
    interaction = query(response.headers["location"])["interaction"]
    page = site.get(response.headers["location"])
    assert forms(page.text)[0]["fields"]["email"] == "dave@example.com"
    done = signup(site, interaction=interaction, username="dave", email="dave@example.com")
    assert h1(done) == CHECK
    continue_to = re.search(r'<a class="button primary" href="([^"]+)"', done.text).group(1)
    assert html.unescape(continue_to) == f"/login?interaction={interaction}"
    login = site.get(html.unescape(continue_to), follow_redirects=False)
    final, seen = walk(site, submit(site, login, username="dave", password=BOB))
    assert seen == ["consent"]
    assert final.headers["location"].startswith(REDIRECT)
    callback = query(final.headers["location"])
    assert callback["state"] == params["state"] and "code" in callback
    claims = id_claims(site, client, callback, verifier)
    assert claims["sub"] == user(cli, "dave")["id"]


def test_prompt_create_offers_sign_in_for_an_existing_account(site, alice, client):
    response, _, params = start(site, client, prompt="create")
    page = site.get(response.headers["location"])
    sign_in = re.search(r'Already have an account\? <a href="([^"]+)"', page.text).group(1)
    login = site.get(html.unescape(sign_in), follow_redirects=False)
    assert login.status_code == 200
    final, _ = walk(site, submit(site, login, username="alice", password="correct horse battery staple"))
    assert query(final.headers["location"])["state"] == params["state"]


def test_login_page_links_to_signup_when_open(site, client):
    login = site.get(start(site, client)[0].headers["location"])
    interaction = forms(login.text)[0]["fields"]["interaction"]
    assert f'href="/signup?interaction={interaction}"' in login.text


# --- verification links ---------------------------------------------------------------------------


def test_tampered_and_malformed_links_are_error_pages(site, mailbox):
    signup(site)
    message = mailbox.last("bob@example.com")
    url = path_of(link_to(message, "/email/verify"))
    for bad in (
        url[:-2] + ("AA" if not url.endswith("AA") else "BB"),
        "/email/verify",
        "/email/verify?token=",
        "/email/verify?token=" + "x" * 500,
        "/email/verify?token=%00",
    ):
        page = site.get(bad)
        assert page.status_code == 400 and EXPIRED in alert(page), bad
    page = site.get(url)
    token = forms(page.text)[0]["fields"]["token"]
    forged = site.post(
        "/email/verify", data={"csrf_token": forms(page.text)[0]["fields"]["csrf_token"], "token": token + "x"}
    )
    assert forged.status_code == 400
    no_csrf = site.post("/email/verify", data={"token": token})
    assert no_csrf.status_code == 403
    assert confirm(site, page).status_code == 200


def test_an_expired_link_is_refused(site, cli, mailbox, clock):
    signup(site)
    page, _ = open_link(site, mailbox, "bob@example.com", "/email/verify")
    clock.advance(86400 + 60)
    expired = submit(site, page)
    assert expired.status_code == 400 and EXPIRED in alert(expired)
    assert user(cli, "bob")["email_verified"] is False


def test_a_new_link_supersedes_the_old_one(site, cli, mailbox):
    signup(site)
    old_page, _ = open_link(site, mailbox, "bob@example.com", "/email/verify")
    account_sign_in(site, username="bob", password=BOB)
    account = site.get("/account")
    assert "Send me a link to confirm my address" in account.text
    resend = next(f for f in forms(account.text) if f["action"] == "/email/verify/resend")
    sent = site.post("/email/verify/resend", data=resend["fields"])
    assert sent.status_code == 200 and h1(sent) == CHECK
    new_page, _ = open_link(site, mailbox, "bob@example.com", "/email/verify", after=1)
    stale = submit(site, old_page)
    assert stale.status_code == 400 and EXPIRED in alert(stale)
    assert confirm(site, new_page).status_code == 200
    assert user(cli, "bob")["email_verified"] is True
    assert "Send me a link" not in site.get("/account").text


def test_resend_needs_a_signed_in_user_and_csrf(site):
    site.get("/signup")
    csrf = site.cookies.get("as_csrf")
    anonymous = site.post("/email/verify/resend", data={"csrf_token": csrf})
    assert anonymous.status_code == 400 and h1(anonymous) == "Sign in first"
    assert site.post("/email/verify/resend", data={}).status_code == 403
    wrong = site.post("/email/verify/resend", data={"csrf_token": csrf, "interaction": "nope"})
    assert wrong.status_code == 400


# --- AUTHSERVER_REQUIRE_VERIFIED_EMAIL ---------------------------------------------------------------


def test_required_verification_blocks_sign_in_until_the_link_is_used(make_app, cli, mailbox, client):
    http = make_app(signup="open", require_verified_email=True, smtp_url=mailbox.url, **APP_MAIL)
    signup(http)
    first, _ = open_link(http, mailbox, "bob@example.com", "/email/verify")
    response, _, _ = start(http, client)
    login = http.get(response.headers["location"])
    blocked = submit(http, login, username="bob", password=BOB)
    assert blocked.status_code == 403 and h1(blocked) == "Confirm your email address first"
    assert "as_session" not in http.cookies
    assert events(cli, "login.refused")[0]["data"]["reason"] == "email_unverified"
    # A wrong password never reaches this page (no way to learn that the account is unverified).
    wrong = submit(
        http, http.get(start(http, client)[0].headers["location"]), username="bob", password="not the password!"
    )
    assert wrong.status_code == 400 and "Confirm your email" not in wrong.text

    again = submit(http, blocked)  # "Send the link again"
    assert again.status_code == 200 and h1(again) == CHECK
    second, _ = open_link(http, mailbox, "bob@example.com", "/email/verify", after=1)
    assert submit(http, first).status_code == 400, "the first link was superseded"
    assert confirm(http, second).status_code == 200
    login = http.get(start(http, client)[0].headers["location"])
    final, _ = walk(http, submit(http, login, username="bob", password=BOB))
    assert "code" in query(final.headers["location"])


def test_a_new_link_only_while_the_sign_in_waits_on_the_address(make_app, cli, mailbox, client):
    """The "send the link again" form of a sign-in that has moved on (back on the sign-in page, another
    account signed in on the same request) sends nothing: the request no longer waits on that address."""
    http = make_app(signup="open", require_verified_email=True, smtp_url=mailbox.url, **APP_MAIL)
    cli(
        "user", "create", "--username", "carol", "--email", "carol@example.com", "--name", "Carol",
        "--email-verified", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    signup(http)
    mailbox.last("bob@example.com")  # the link of the sign-up
    login = http.get(start(http, client)[0].headers["location"])
    blocked = submit(http, login, username="bob", password=BOB)
    assert blocked.status_code == 403 and h1(blocked) == "Confirm your email address first"
    [resend] = [f for f in forms(blocked.text) if f["action"] == "/email/verify/resend"]
    again = http.get("/login?interaction=" + resend["fields"]["interaction"])
    moved_on = submit(http, again, username="carol", password=PASSWORD)
    assert moved_on.status_code == 303 and not moved_on.headers["location"].startswith("/login")
    refused = http.post("/email/verify/resend", data=resend["fields"])
    assert refused.status_code == 400 and h1(refused) == "Sign-in expired"
    assert events(cli, "email.verification_sent") == []
    time.sleep(0.5)  # the outbox polls every 0.1 s: a message queued by the refused request would be out
    assert len(mailbox.to("bob@example.com")) == 1


def test_production_refuses_mail_features_without_smtp():
    base = {
        "env": "production",
        "issuer": "https://id.example.com",
        "secret_key": "s" * 40,
        "database_url": "postgresql+psycopg://db/x",
        "redis_url": "redis://r:6379/0",
        "password_reset": False,
        "metrics_token": "m" * 32,
        "argon2_cost": "standard",  # the test environment has the test cost
    }
    assert Settings(**base).production_problems() == []
    for extra, named in (
        ({"signup": "open"}, "AUTHSERVER_SIGNUP=open"),
        ({"require_verified_email": True}, "REQUIRE_VERIFIED"),
    ):
        (problem,) = Settings(**base, **extra).production_problems()
        assert "AUTHSERVER_SMTP_URL must be set" in problem and named in problem
        assert Settings(**base, **extra, smtp_url="smtps://mail.example.com").production_problems() == []


# --- an SMTP outage during sign-up ---------------------------------------------------------------------


def test_smtp_outage_during_signup_delivers_the_link_after_a_restart(make_app, cli):
    box = Mailbox()  # down
    first = make_app(signup="open", smtp_url=box.url, **APP_MAIL)
    assert signup(first).status_code == 200
    deadline = time.monotonic() + 30
    while not [m for m in cli("mail", "queue", "--json").json() if m["attempts"] >= 1]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    first.__exit__(None, None, None)
    box.start()
    try:
        second = make_app(signup="open", smtp_url=box.url, **APP_MAIL)
        page, _ = open_link(second, box, "bob@example.com", "/email/verify")
        assert confirm(second, page).status_code == 200
        time.sleep(0.5)
        assert len(box.messages) == 1
        assert user(cli, "bob")["email_verified"] is True
    finally:
        box.stop()
