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
