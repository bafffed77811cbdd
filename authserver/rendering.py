"""The Jinja2 environments of the hosted pages and the emails: the theme's templates before the built-in
ones, autoescaped, translating through the gettext catalogs, with compiled templates kept per process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache

from authserver.i18n import Catalogs


class CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept in memory for every Environment of the process built with the same options
    (one instance per kind of Environment: the options shape the compiled code), so an app built again
    (each test's, a worker's) does not parse and compile every template again (~5 ms each). Jinja2 checks
    each entry against a checksum of the template's source: an edited template is compiled anew."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


PAGES = CompiledTemplates()
EMAILS = CompiledTemplates()


def theme_loader(templates: Sequence[Path]) -> jinja2.BaseLoader:
    """The theme's templates first; "default/NAME" always names the built-in one (the last directory), so
    a theme's template can extend the template it replaces."""
    return jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader([str(t) for t in templates]),
            jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(str(templates[-1]))}),
        ]
    )


def translating_environment(
    templates: Sequence[Path], catalogs: Catalogs, compiled: CompiledTemplates, **options: Any
) -> jinja2.Environment:
    """Jinja2 with the gettext callables of the catalogs (`_`, `ngettext`, `{% trans %}`), the `t` filter
    for text that the code marked with N_ or built as an i18n.Message (translated, then autoescaped like
    any value), and the per-locale `moment`, `number` and `duration` filters."""
    env = jinja2.Environment(
        loader=theme_loader(templates),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        bytecode_cache=compiled,
        **options,
    )
    # newstyle: the translation is formatted by Jinja2 itself, with every variable escaped.
    env.install_gettext_callables(catalogs.gettext, catalogs.ngettext, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension
    env.filters["t"] = catalogs.translate
    env.filters["moment"] = catalogs.format_moment
    env.filters["number"] = catalogs.format_number
    env.filters["duration"] = catalogs.format_duration
    return env
