"""The shipped languages are complete: every text of the templates and the code (N_) is translated in
each catalog, none is fuzzy or stale, placeholders match; `make messages` brings them up to date."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from authserver.i18n import LANGUAGES, SOURCE, Catalogs, negotiate
from tests.catalogs import LOCALES, extract, po_path, problems, read, write

SHIPPED = [language for language in LANGUAGES if language != SOURCE]


@pytest.fixture(scope="module")
def template() -> Catalog:
    return extract()


def test_the_extraction_finds_the_pages_the_emails_and_the_code(template):
    ids = {m.id for m in template if m.id}
    assert "Sign in" in ids  # a template
    assert "Incorrect username or password." in ids  # the code, marked N_
    assert "Reset your password" in ids  # an email subject
    assert "This message was sent automatically; replies are not read." in ids  # a text email
    assert len(ids) > 250


@pytest.mark.parametrize("language", SHIPPED)
def test_every_shipped_language_is_complete(template, language):
    assert problems(language, template) == []


@pytest.fixture
def locales(tmp_path: Path) -> Path:
    copy = tmp_path / "locales"
    shutil.copytree(LOCALES, copy)
    return copy


def test_an_untranslated_string_fails(template, locales):
    catalog = read("de", locales)
    catalog["Sign in"].string = ""
    write(catalog, po_path("de", locales))
    assert problems("de", template, locales) == ["de: untranslated: 'Sign in'"]


def test_a_string_missing_from_a_catalog_fails(template, locales):
    catalog = read("fr", locales)
    catalog.delete("Sign in")
    write(catalog, po_path("fr", locales))
    assert problems("fr", template, locales) == ["fr: not in the catalog (run make messages): 'Sign in'"]


def test_a_stale_string_fails(template, locales):
    catalog = read("es", locales)
    catalog.add("Text the pages no longer show", "Texto viejo")
    write(catalog, po_path("es", locales))
    assert problems("es", template, locales) == [
        "es: stale, no longer in the code or the templates: 'Text the pages no longer show'"
    ]


def test_a_fuzzy_or_broken_translation_fails(template, locales):
    catalog = read("de", locales)
    catalog["Sign in"].flags.add("fuzzy")
    catalog["Hello %(name)s,"].string = "Hallo %(nom)s,"
    write(catalog, po_path("de", locales))
    found = problems("de", template, locales)
    assert "de: fuzzy (check it, then remove the flag): 'Sign in'" in found
    assert any("Hello %(name)s," in problem and "placeholder" in problem for problem in found), found


def test_the_server_reads_the_catalogs_from_the_po_files(locales):
    catalogs = Catalogs(locales, default="de")
    assert catalogs.languages == list(LANGUAGES)
    assert catalogs.gettext("Sign in") == "Anmelden"  # the default language, outside any request


def test_a_missing_catalog_leaves_its_language_out(tmp_path):
    catalogs = Catalogs(tmp_path, default="de")
    assert catalogs.languages == ["en"]
    assert catalogs.gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("ui_locales", "accept", "expected"),
    [
        ("de", "fr", "de"),
        ("de-AT", None, "de"),
        ("xx fr_CA", None, "fr"),
        (None, "es-419,es;q=0.9", "es"),
        (None, "en-GB;q=0.1, fr;q=0.2", "fr"),
        ("", "", "en"),
        (None, "de;q=0", "en"),
    ],
)
def test_negotiation(ui_locales, accept, expected):
    assert negotiate(ui_locales, accept, "en") == expected
