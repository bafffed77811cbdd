"""The gettext catalogs (locales/LANG/LC_MESSAGES/messages.po): extracting the text of the templates
and of the code (marked with N_), and comparing it with what each shipped language translates.

`make messages` runs this module: it extracts, adds new text to every catalog (empty, for a translator),
drops text that is gone, and compiles each catalog to check it (tests/test_catalogs.py fails while any
shipped language has an untranslated, fuzzy or stale entry). The server reads the .po files itself.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from authserver.i18n import DOMAIN, LANGUAGES, SOURCE

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
METHODS = [
    ("authserver/**.py", "python"),
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("templates/**.txt", "jinja2.ext:babel_extract"),
]
# The mail templates are read with trim_blocks and lstrip_blocks (delivery/email.py).
OPTIONS = {
    "templates/**.txt": {"trim_blocks": "true", "lstrip_blocks": "true", "extensions": "jinja2.ext.i18n"},
    "templates/**.html": {"extensions": "jinja2.ext.i18n"},
}


DATED = ('"POT-Creation-Date:', '"PO-Revision-Date:', "# FIRST AUTHOR", '"Last-Translator:')


def extract(root: Path = ROOT) -> Catalog:
    """Every translatable text in the code and the templates."""
    template = Catalog(domain=DOMAIN, project="authserver", locale=SOURCE)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), METHODS, OPTIONS, comment_tags=("Translators:",), strip_comment_tags=True
    ):
        if filename.startswith("templates/static"):
            continue
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(language: str, locales: Path = LOCALES) -> Path:
    return locales / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(language: str, locales: Path = LOCALES) -> Catalog:
    with po_path(language, locales).open("rb") as source:
        return read_po(source, locale=language, domain=DOMAIN)


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.project, catalog.version, catalog.fuzzy = "authserver", "", False
    catalog.copyright_holder = "the authserver authors"
    catalog.msgid_bugs_address = ""
    if catalog.locale is not None:
        catalog.language_team = catalog.locale.english_name or ""
    buffer = io.BytesIO()
    # No line numbers, no dates, sorted by text: a catalog changes only when the text does.
    write_po(buffer, catalog, width=100, sort_output=True, include_lineno=False, ignore_obsolete=True)
    lines = buffer.getvalue().decode().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith(DATED)), encoding="utf-8")


def problems(language: str, template: Catalog, locales: Path = LOCALES) -> list[str]:
    """What keeps a shipped language from being complete: untranslated, fuzzy, stale or broken entries."""
    catalog = read(language, locales)
    wanted = {m.id for m in template if m.id}
    found = {m.id: m for m in catalog if m.id}
    found_problems = []
    for key in sorted(wanted - found.keys(), key=str):
        found_problems.append(f"{language}: not in the catalog (run make messages): {key!r}")
    for key in sorted(found.keys() - wanted, key=str):
        found_problems.append(f"{language}: stale, no longer in the code or the templates: {key!r}")
    for key, message in found.items():
        if key not in wanted:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            found_problems.append(f"{language}: untranslated: {key!r}")
        elif message.fuzzy:
            found_problems.append(f"{language}: fuzzy (check it, then remove the flag): {key!r}")
    for message, errors in catalog.check():
        for error in errors:
            found_problems.append(f"{language}: {message.id!r}: {error}")
    return found_problems


def update(locales: Path = LOCALES) -> list[str]:
    """make messages: extract, then bring every shipped catalog up to date and compile it."""
    template = extract()
    report = []
    for language in LANGUAGES:
        if language == SOURCE:
            continue
        path = po_path(language, locales)
        catalog = read(language, locales) if path.exists() else Catalog(locale=language, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        write(catalog, path)
        write_mo(io.BytesIO(), read(language, locales))  # compiles, or raises on a broken catalog
        report.extend(problems(language, template, locales))
    return report


if __name__ == "__main__":
    left = update()
    print("\n".join(left) if left else "Every shipped language is complete.")
    sys.exit(0)
