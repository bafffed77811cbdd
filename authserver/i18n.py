"""Languages of the hosted pages and emails: gettext catalogs read with Babel, the choice of language
per request, and dates and numbers formatted for it.

The catalogs are locales/LANG/LC_MESSAGES/messages.po, compiled in memory when the server starts (no
compiled .mo files to ship or to forget to rebuild); `make messages` extracts the text from the
templates and the code and updates them. English is the source language: its text is the message
id, so an English page needs no catalog.

The language of a request (OpenID Connect Core §3.1.2.1 `ui_locales`, then `Accept-Language`, then the
default setting) is chosen only when a page or an email is rendered: the edge records the two
inputs per request in a context variable, which costs API requests nothing.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

# The shipped languages: English (the source) first.
LANGUAGES = ("en", "de", "fr", "es")
SOURCE = "en"
DOMAIN = "messages"
# A header or parameter longer than this is not a list of languages anyone sends.
_MAX_INPUT = 512


def N_(message: str) -> str:
    """Marks text for the catalogs (make messages) where it is defined; it is translated when shown."""
    return message


class Message(str):
    """Text with values in it ("%(name)s could not sign you in."), marked for the catalogs with N_ where it is
    written: `Message(N_("... %(name)s ..."), name=...)`. As a str it is the English text with the values
    put in (for logs, the audit trail and English pages); the pages' and emails' `t` filter translates the
    text first and then puts in the values, each Message value translated too and a tuple value written
    as a list in the language ("A, B and C")."""

    msgid: str
    values: dict[str, str | int | tuple[str, ...]]

    def __new__(cls, msgid: str, **values: str | int | tuple[str, ...]) -> Message:
        english = msgid % {k: _english(v) for k, v in values.items()} if values else msgid
        self = super().__new__(cls, english)
        self.msgid = msgid
        self.values = values
        return self


def _english(value: str | int | tuple[str, ...]) -> str | int:
    return format_list(list(value), locale=SOURCE) if isinstance(value, tuple) else value


# What start_request was given, decoded only if a page is rendered (most requests are API calls).
_request: ContextVar[tuple[bytes | None, bytes] | None] = ContextVar("authserver_i18n_request", default=None)
_preferred: ContextVar[str | None] = ContextVar("authserver_i18n_preferred", default=None)


def start_request(accept_language: bytes | None, query_string: bytes) -> None:
    """Called by the edge for every request: what the language will be chosen from, if a page is shown."""
    _request.set((accept_language, query_string))
    _preferred.set(None)


def prefer(ui_locales: str | None) -> None:
    """The `ui_locales` of the authorization request a page belongs to (kept with the interaction)."""
    if ui_locales:
        _preferred.set(ui_locales[:_MAX_INPUT])


@contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Render in `language` (one chosen earlier, e.g. by the request that queued a job) for a while."""
    token = _preferred.set(language or None)
    try:
        yield
    finally:
        _preferred.reset(token)


def _tags(value: str) -> list[str]:
    return [tag.strip().replace("_", "-").lower() for tag in value.split() if tag.strip()]


def _accept_language(header: str) -> list[str]:
    """RFC 9110 §12.5.4: tags by their q weight (stable for equal weights); q=0 means 'not this one'."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and weight > 0:
            weighted.append((-weight, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]


def match(tags: Iterable[str], supported: Iterable[str] = LANGUAGES) -> str | None:
    """The first tag we have a catalog for, by the full tag or its primary language ('de-AT' -> 'de')."""
    available = set(supported)
    for tag in tags:
        if tag in available:
            return tag
        primary = tag.split("-", 1)[0]
        if primary in available:
            return primary
    return None


def negotiate(ui_locales: str | None, accept_language: str | None, default: str) -> str:
    """ui_locales (space-separated, in order of preference), then Accept-Language, then the default."""
    return (
        match(_tags(ui_locales or ""))
        or match(_accept_language(accept_language or ""))
        or (default if default in LANGUAGES else SOURCE)
    )


def _query_ui_locales(query: str) -> str | None:
    for name, value in parse_qsl(query):
        if name == "ui_locales":
            return value
    return None


@functools.lru_cache(maxsize=64)
def _compile(po: Path, language: str, mtime_ns: int, size: int) -> bytes:
    """The .mo bytes of one catalog; remembered per file version (its modification time and size are
    part of the key), since parsing a .po file costs ~25 ms and every app the process builds reads all three."""
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    return compiled.getvalue()


class Catalogs:
    """The translations of every shipped language, and the language of the current request."""

    def __init__(self, directory: Path, *, default: str = SOURCE) -> None:
        self.default = default
        self.translations: dict[str, NullTranslations] = {SOURCE: NullTranslations()}
        for language in LANGUAGES:
            po = directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"
            if language == SOURCE or not po.is_file():
                continue
            stat = po.stat()
            compiled = io.BytesIO(_compile(po, language, stat.st_mtime_ns, stat.st_size))
            self.translations[language] = Translations(compiled, domain=DOMAIN)

    @property
    def languages(self) -> list[str]:
        return [language for language in LANGUAGES if language in self.translations]

    def language(self) -> str:
        accept_language, query = _request.get() or (None, b"")
        preferred = _preferred.get()
        if preferred is None and b"ui_locales=" in query:
            preferred = _query_ui_locales(query.decode("latin-1"))
        return (
            match(_tags(preferred or ""), self.languages)
            or match(_accept_language((accept_language or b"")[:_MAX_INPUT].decode("latin-1")), self.languages)
            or (self.default if self.default in self.translations else SOURCE)
        )

    def gettext(self, message: str) -> str:
        return self.translations[self.language()].gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations[self.language()].ngettext(singular, plural, n)

    def translate(self, message: str) -> str:
        """The `t` filter: text the code marked with N_, or a Message, in the language of the request."""
        if not message:
            return ""
        if not isinstance(message, Message):
            return self.gettext(message)
        text = self.gettext(message.msgid)
        if not message.values:
            return text
        return text % {key: self._value(value) for key, value in message.values.items()}

    def _value(self, value: str | int | tuple[str, ...]) -> str | int:
        if isinstance(value, tuple):
            return format_list(
                [self.translate(v) if isinstance(v, Message) else v for v in value], locale=self.language()
            )
        return self.translate(value) if isinstance(value, Message) else value

    def format_moment(self, timestamp: int | float | str | None) -> str:
        """A moment for people, in the language's own format (UTC, said so); from a Unix time or an ISO 8601
        string with its offset."""
        if not timestamp:
            return ""
        if isinstance(timestamp, str):
            moment = datetime.fromisoformat(timestamp).astimezone(UTC)
        else:
            moment = datetime.fromtimestamp(timestamp, UTC)
        language = self.language()
        day = format_date(moment, format="medium", locale=language)
        hour = format_time(moment, format="short", tzinfo=UTC, locale=language)
        # CLDR's way to join a date and a time in this language ("{1}, {0}" in most).
        joined = str(Locale.parse(language).datetime_formats["medium"])
        return joined.replace("{1}", day).replace("{0}", hour) + " UTC"

    def format_duration(self, seconds: int) -> str:
        """'30 minutes', '24 Stunden': how long a link works, in the text of a message."""
        return format_timedelta(timedelta(seconds=seconds), threshold=2, locale=self.language())

    def format_number(self, number: int | float) -> str:
        return format_decimal(number, locale=self.language())

    def display_name(self, language: str) -> str:
        return Locale.parse(language).get_display_name(language) or language
