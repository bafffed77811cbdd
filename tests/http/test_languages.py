"""Languages of the hosted pages and emails: OIDC ui_locales, then Accept-Language, then the default
setting; every page says its language; text, dates and numbers in that language; discovery lists
them; translated text still escapes what it shows."""

from __future__ import annotations

import re

import pytest

from tests.emails import APP_MAIL
from tests.helpers import PASSWORD, follow, submit
from tests.mailbox import html_of, text_of
from tests.pages import account_sign_in, start

REDIRECT = "https://app.example/cb"


@pytest.fixture
def client(register, alice):  # type: ignore[no-untyped-def]
    return register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="Photo App")


def lang(page) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'<html lang="([^"]+)">', page.text)
    assert found, page.text[:200]
    return found.group(1)


def h1(page) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", page.text, re.DOTALL).group(1)).strip()


def login_page(http, client, headers=None, **extra):  # type: ignore[no-untyped-def]
    response, _, _ = start(http, client, **extra)
    assert response.status_code in (302, 303), response.text
    return http.get(response.headers["location"], headers=headers or {}, follow_redirects=False)


def test_english_without_any_preference(http, client):
    page = login_page(http, client)
    assert lang(page) == "en" and h1(page) == "Sign in"
    assert "Username or email" in page.text


@pytest.mark.parametrize(
    ("header", "language", "heading"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de", "Anmelden"),
        ("fr-CA", "fr", "Se connecter"),
        ("es", "es", "Iniciar sesión"),
        ("ja;q=1, es;q=0.5, fr;q=0.7", "fr", "Se connecter"),  # by weight, skipping what we lack
        ("de;q=0, es", "es", "Iniciar sesión"),  # q=0: not this one
        ("ja, zh-Hant", "en", "Sign in"),  # nothing we ship: the default
        ("*", "en", "Sign in"),
        ("de;q=garbage", "en", "Sign in"),
    ],
)
def test_accept_language_picks_the_page_language(http, client, header, language, heading):
    page = login_page(http, client, headers={"Accept-Language": header})
    assert page.status_code == 200
    assert lang(page) == language and h1(page) == heading


def test_ui_locales_comes_first_and_lasts_the_whole_sign_in(http, client):
    browser = {"Accept-Language": "fr"}
    response, _, _ = start(http, client, ui_locales="es-MX de")
    page = http.get(response.headers["location"], headers=browser)
    assert lang(page) == "es" and h1(page) == "Iniciar sesión"
    assert "para continuar a <strong>Photo App</strong>" in page.text
    # The next page of the same sign-in (consent) keeps the requested language.
    consent = follow(http, submit(http, page, username="alice", password=PASSWORD))
    assert consent.status_code == 200, consent.text
    assert lang(consent) == "es"
    assert "Permitir que <strong>Photo App</strong> pueda:" in consent.text
    assert "Ver tu nombre y tu nombre de usuario" in consent.text  # scopes in words, translated


def test_ui_locales_with_nothing_we_ship_falls_back_to_the_browser(http, client):
    page = login_page(http, client, headers={"Accept-Language": "de"}, ui_locales="ja ko")
    assert lang(page) == "de"


def test_the_default_language_setting(make_app, client):
    http = make_app(default_language="fr")
    assert lang(login_page(http, client, headers={"Accept-Language": "ja"})) == "fr"
    assert lang(login_page(http, client, headers={"Accept-Language": "de"})) == "de"


def test_an_unknown_default_language_is_refused(env):
    from authserver.settings import InvalidSettings, load_settings

    with pytest.raises(InvalidSettings):
        load_settings(default_language="xx")


def test_discovery_lists_the_shipped_languages(http):
    metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["ui_locales_supported"] == ["en", "de", "fr", "es"]


def test_error_pages_are_translated_and_show_the_request_id(http):
    page = http.get("/consent?interaction=nope", headers={"Accept-Language": "de", "X-Request-ID": "req-12345"})
    assert page.status_code == 400
    assert lang(page) == "de" and h1(page) == "Anmeldung abgelaufen"
    assert "Gehen Sie zurück zur Anwendung und beginnen Sie von vorn." in page.text
    assert '<strong class="reference">req-12345</strong>' in page.text
    assert page.headers["x-request-id"] == "req-12345"


def test_a_translated_sentence_still_escapes_the_client_name(http, register, alice):
    evil = register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT, name="<img src=x onerror=alert(1)>"
    )
    page = login_page(http, evil, headers={"Accept-Language": "fr"})
    assert "pour continuer vers <strong>&lt;img src=x onerror=alert(1)&gt;</strong>" in page.text
    assert "<img src=x" not in page.text


def test_dates_on_the_account_page_follow_the_language(http, alice):
    account_sign_in(http)
    english = http.get("/account")
    german = http.get("/account", headers={"Accept-Language": "de"})
    assert lang(german) == "de" and h1(german) == "Ihr Konto"
    # Babel's CLDR formats: "Dec 3, 2026, 12:30" style in English, "03.12.2026" style in German.
    assert re.search(r"Signed in <time>[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\W[AP]M UTC", english.text), (
        english.text
    )
    assert re.search(r"Angemeldet <time>\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC", german.text), german.text
    # The sign-in history's words too (the export keeps them in English).
    assert "<td>Passwort</td><td>Angemeldet</td>" in german.text


def test_emails_are_written_in_the_language_of_the_request(make_app, mailbox, alice):
    http = make_app(smtp_url=mailbox.url, **APP_MAIL)
    http.headers["Accept-Language"] = "de"  # as a browser sends it with every request
    page = http.get("/password/forgot")
    assert lang(page) == "de"
    sent = submit(http, page, email="alice@example.com")
    assert sent.status_code == 200
    message = mailbox.last("alice@example.com")
    assert message["Subject"] == "Setzen Sie Ihr Passwort zurück"
    assert "Hallo Alice," in text_of(message)
    assert "Der Link funktioniert einmal und 30 Minuten lang." in text_of(message)
    assert '<html lang="de">' in html_of(message)


def test_the_passkey_script_gets_its_sentences_in_the_page_language(http, client):
    page = login_page(http, client, headers={"Accept-Language": "de"})
    # passkeys.js reads what it says from the status element's data attributes.
    assert 'data-no-browser="Dieser Browser kann keine Passkeys verwenden.' in page.text
    assert 'data-fallback="Sie können stattdessen Ihr Passwort verwenden."' in page.text


@pytest.mark.parametrize(
    ("fields", "field", "german"),
    [
        ({"username": "-bad"}, "username", "Verwenden Sie 1–150 Buchstaben"),
        ({"email": "nope"}, "email", "Verwenden Sie eine E-Mail-Adresse wie name@example.com."),
        ({"name": "x" * 201}, "name", "Verwenden Sie höchstens 200 Zeichen in einer Zeile."),
        ({"password": "short"}, "password", "Das Passwort muss mindestens 12 Zeichen lang sein."),
        ({"password": "x" * 129}, "password", "Das Passwort darf höchstens 128 Zeichen lang sein."),
        ({"password": "bob@example.com"}, "password", "Das Passwort darf nicht der Benutzername"),
        ({"password": "passwordpassword"}, "password", "Das Passwort ist zu"),
    ],
)
def test_sign_up_field_errors_are_translated(make_app, fields, field, german):
    from tests.emails import signup

    http = make_app(signup="open")
    http.headers["Accept-Language"] = "de"
    page = signup(http, **fields)
    assert page.status_code == 400
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page.text)
    assert error and error.group(1).startswith(german), page.text


def test_an_unregistered_redirect_uri_is_explained_in_the_page_language(http, client):
    page = http.get(
        "/authorize",
        params={"client_id": client["client_id"], "redirect_uri": "https://evil.example/cb", "response_type": "code"},
        headers={"Accept-Language": "fr"},
    )
    assert page.status_code == 400 and lang(page) == "fr"
    assert "La redirect_uri n’est pas enregistrée pour cette application." in page.text


# --- text the code builds with values in it (i18n.Message) ----------------------------------------

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_the_last_second_factor_refusal_names_the_apps_in_the_page_language(http, register, alice):
    from tests.pages import account_post, alert, enrol, reauthenticate

    account_sign_in(http)
    authenticator, _ = enrol(http)
    assert reauthenticate(http, code=authenticator.code()).status_code == 303  # a sudo action
    register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--require-mfa", name="Bank")
    http.headers["Accept-Language"] = "de"
    refused = account_post(http, "/account/mfa/totp/disable")
    assert refused.status_code == 409 and lang(refused) == "de"
    assert alert(refused) == (
        "Bank verlangt eine Zwei-Schritt-Verifizierung, daher kann Ihr letzter zweiter Faktor nicht entfernt "
        "werden. Fügen Sie zuerst einen weiteren Passkey oder eine Authenticator-App hinzu."
    )
    # Several apps: a list written the language's way, and the plural.
    register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--require-mfa", name="Assurance")
    http.headers["Accept-Language"] = "fr"
    refused = account_post(http, "/account/mfa/totp/disable")
    assert refused.status_code == 409
    assert alert(refused).startswith("Assurance et Bank exigent la validation en deux étapes")


def test_an_authorize_error_page_explains_the_error_code_and_keeps_the_description(http, client):
    # A request_uri that is not ours, with no redirect URI to send the error to: a page.
    page = http.get(
        "/authorize",
        params={"client_id": client["client_id"], "request_uri": "urn:example:elsewhere"},
        headers={"Accept-Language": "de", "X-Request-ID": "req-67890"},
    )
    assert page.status_code == 400 and lang(page) == "de"
    assert h1(page) == "Anmeldeanfrage abgelehnt"
    assert (
        "Die von der Anwendung vorbereitete Anmeldeanfrage ist abgelaufen, wurde schon verwendet oder ist ungültig. "
        "Gehen Sie zurück zur Anwendung und beginnen Sie von vorn." in page.text
    )
    # The protocol's own words, as a technical detail (English), and the reference for support.
    assert (
        'Technisches Detail: <span class="detail" lang="en">invalid_request_uri: '
        "Only request_uri values from our PAR endpoint work</span>" in page.text
    )
    assert '<strong class="reference">req-67890</strong>' in page.text


def test_a_protocol_error_on_a_hosted_page_is_explained_in_the_page_language(http):
    page = http.post(
        "/login", content=b"a=1", headers={"Content-Type": "text/plain", "Accept-Language": "es"}
    )  # not a form
    assert page.status_code == 400 and lang(page) == "es"
    assert "Esta página ha recibido una solicitud que no puede leer." in page.text
    assert "Detalle técnico:" in page.text and "invalid_request: Content-Type must be" in page.text


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [(b"purpose=sign-in", "text/plain", 400), (b"purpose=\xff", "application/x-www-form-urlencoded", 400)],
)
def test_an_unreadable_passkey_request_is_refused_in_the_page_language(http, body, content_type, status):
    # passkeys.js shows the description to the person: in their language, not the protocol's English.
    answer = http.post(
        "/passkeys/options", content=body, headers={"Content-Type": content_type, "Accept-Language": "fr"}
    )
    assert answer.status_code == status
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["error_description"].startswith("Cette page a reçu une requête qu’elle ne peut pas lire.")


def test_a_scope_without_words_is_named_in_a_translated_line(http, register, alice):
    client = register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--scope", "openid photos.read",
        name="Photo App",
    )  # fmt: skip
    response, _, _ = start(http, client, ui_locales="de", scope="openid photos.read")
    page = follow(http, response)
    consent = follow(http, submit(http, page, username="alice", password=PASSWORD))
    assert consent.status_code == 200 and lang(consent) == "de", consent.text
    assert "<li>Die Berechtigung „photos.read“ verwenden</li>" in consent.text


def test_the_sign_in_history_names_browsers_and_systems_in_the_page_language(http, alice):
    http.headers["user-agent"] = FIREFOX_LINUX
    account_sign_in(http)
    del http.headers["user-agent"]  # the test client's own: no browser we know
    german = http.get("/account", headers={"Accept-Language": "de"})
    assert "<td>Firefox unter Linux</td>" in german.text
    french = http.get("/account", headers={"Accept-Language": "fr"})
    assert "<td>Firefox sous Linux</td>" in french.text
    # The moment of each attempt is written the language's way too.
    assert re.search(r'<time datetime="[^"]+">\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC</time>', german.text), german.text


def test_the_email_change_notice_is_translated_with_both_addresses(http, alice):
    from tests.pages import account_post, notice

    account_sign_in(http)
    http.headers["Accept-Language"] = "de"
    page = account_post(http, "/account/email", email="alice.new@example.com")
    assert page.status_code == 200, page.text
    assert notice(page) == (
        "Wir haben einen Link an alice.new@example.com gesendet. Ihre Adresse ändert sich, wenn Sie ihn öffnen; "
        "bis dahin bleibt sie alice@example.com."
    )


def test_the_delete_confirmation_error_is_translated(http, alice):
    from tests.pages import account_post, alert

    account_sign_in(http)
    http.headers["Accept-Language"] = "es"
    page = account_post(http, "/account/delete", confirm="not-alice")
    assert page.status_code == 400
    assert alert(page) == "Para eliminar tu cuenta, escribe tu nombre de usuario (alice) en el campo."


@pytest.fixture
def corp(cli):  # type: ignore[no-untyped-def]
    from tests.fake_idp import FakeIdP
    from tests.upstreams import add_upstream

    provider = FakeIdP().start()
    add_upstream(cli, provider)
    yield provider
    provider.stop()


def test_upstream_messages_are_translated_with_the_provider_name(http, client, corp):
    from tests.upstreams import come_back, leave_for

    http.headers["Accept-Language"] = "de"
    page = login_page(http, client)
    # Cancelled at the upstream: back on our login page, in German, naming the provider.
    sent = leave_for(http, page)
    cancelled = come_back(http, error="access_denied", state=sent["state"])
    assert cancelled.status_code == 400 and lang(cancelled) == "de"
    assert (
        "Die Anmeldung mit Corp wurde abgebrochen. Melden Sie sich auf andere Weise an oder versuchen Sie es erneut."
        in cancelled.text
    )
    # Any other error from the upstream.
    sent = leave_for(http, cancelled)
    failed = come_back(http, error="server_error", state=sent["state"])
    assert "Corp konnte Sie nicht anmelden." in failed.text
    # An account the upstream did not give an address for (French this time).
    http.headers["Accept-Language"] = "fr"
    sent = leave_for(http, failed)
    corp.answer_with(nonce=sent["nonce"])
    refused = come_back(http, code="c", state=sent["state"])
    assert refused.status_code == 403, refused.text
    assert "Corp n’a pas transmis d’adresse e-mail : aucun compte ne peut donc être créé pour vous." in refused.text


def test_the_sign_in_history_names_the_provider_in_the_page_language(http, register, corp):
    from tests.upstreams import account_sign_in as upstream_sign_in

    first_party = register(
        "--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--first-party", name="Home"
    )  # fmt: skip
    upstream_sign_in(http, first_party, corp)
    page = http.get("/account", headers={"Accept-Language": "es"})
    assert page.status_code == 200 and lang(page) == "es"
    assert "<td>A través de Corp</td>" in page.text  # its display name


@pytest.mark.parametrize(
    ("action", "values", "field"),
    [
        (
            "/account/password",
            {"current_password": "wrong", "new_password": "x", "confirm_password": "x"},
            "current_password",
        ),
        ("/account/email", {"email": "not an address"}, "new_email"),
        ("/account/delete", {"confirm": "not-alice"}, "confirm"),
    ],
)
def test_an_account_page_error_is_tied_to_its_field(http, alice, action, values, field):
    from tests.pages import account_post

    account_sign_in(http)
    page = account_post(http, action, **values)
    assert page.status_code == 400, page.text
    # The message links to the field, and the field points back at the message.
    assert re.search(rf'<p class="alert" role="alert" id="account-error"><a href="#{field}">', page.text), page.text
    tag = re.search(rf'<input id="{field}"[^>]*>', page.text).group(0)
    assert 'aria-invalid="true"' in tag and 'aria-describedby="account-error"' in tag
    others = re.findall(r"<input [^>]*aria-invalid[^>]*>", page.text)
    assert len(others) == 1, others
