"""Cursor pagination: `limit` (1-200, default 50) and an opaque `cursor`; each page is
{"items": [...], "next": URL or null}, and the next page's URL is also in a Link header (RFC 8288)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from authserver.admin.call import Call, Result
from authserver.admin.problems import Problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def limit(call: Call) -> int:
    raw = call.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise Problem(400, "invalid-parameter", f"limit must be a number from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def cursor(call: Call) -> str | None:
    raw = call.query.get("cursor")
    if raw is None:
        return None
    try:
        value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        value = ""
    if not value or not raw.isascii():
        raise Problem(400, "invalid-parameter", "cursor is not one this API gave out", field="cursor")
    return value


def bad_cursor() -> Problem:
    return Problem(
        400, "invalid-parameter", "cursor is not one this API gave out (or its item is gone)", field="cursor"
    )


def encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def page(call: Call, rows: Sequence[Any], items: list[Any], size: int, last_key: str | None) -> Result:
    """`rows` was fetched with size + 1: one more means there is a next page after `last_key`."""
    next_url = None
    if len(rows) > size and last_key is not None:
        query = {k: v for k, v in call.query.items() if k not in ("cursor", "limit")}
        query.update(limit=str(size), cursor=encode(last_key))
        next_url = call.url + "?" + urlencode(query)
    headers = {"link": f'<{next_url}>; rel="next"'} if next_url else {}
    return 200, {"items": items, "next": next_url}, headers
