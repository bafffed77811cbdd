"""What the management operations refuse, shared by the CLI and the admin API.

Each failure names the field it is about. A message is a template whose `{field}` placeholders each
front end fills with its own spelling of the field: the CLI's option (`--redirect-uri`), the API's JSON
member (`redirect_uris`). The offending value, when shown, is appended after the template (never
formatted into it: it is the caller's input).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class ManageError(Exception):
    """A refused management operation."""

    separator = ": "

    def __init__(self, template: str, *, field: str | None = None, value: str | None = None) -> None:
        super().__init__(template)
        self.template = template
        self.field = field
        self.value = value

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The message with each `{field}` replaced by names[field] (or the field itself)."""
        names = names or {}
        text = _PLACEHOLDER.sub(lambda m: names.get(m.group(1), m.group(1)), self.template)
        if self.value is not None:
            text += f"{self.separator}{self.value!r}"
        return text

    def __str__(self) -> str:
        return self.render()


class Invalid(ManageError):
    """A field's value is refused (the API answers 422 naming the field)."""


class NotFound(ManageError):
    """No such client, user, key or consent (404)."""

    separator = " "


class Conflict(ManageError):
    """The request is valid but the resource's state refuses it: a taken username, the active key (409)."""


class Stale(ManageError):
    """The resource changed since the caller read it (If-Match: 412)."""
