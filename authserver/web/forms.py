"""Reading request bodies: size-capped, strictly decoded, repeated parameters refused."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from authserver.domain import MULTI_VALUED_PARAMETERS
from authserver.errors import InvalidRequest, PayloadTooLarge

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 100


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_pairs(text: str, *, refuse_repeats: bool = True) -> list[tuple[str, str]]:
    """The one parser of query strings and form bodies (strict UTF-8, at most MAX_FIELDS, no NUL)."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequest("Parameters must be UTF-8") from None
    except ValueError:
        raise InvalidRequest(f"Too many parameters (at most {MAX_FIELDS})") from None
    seen: set[str] = set()
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise InvalidRequest("Parameters must not contain NUL characters")
        if refuse_repeats and key in seen and key not in MULTI_VALUED_PARAMETERS:
            raise InvalidRequest(f"Parameter '{key}' is repeated")
        seen.add(key)
    return pairs


async def read_form(request: Request, limit: int) -> list[tuple[str, str]]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media_type:
        # An empty POST (all parameters optional, credentials in the header) carries no type.
        if not await read_body(request, limit):
            return []
        raise InvalidRequest(f"Content-Type must be {FORM_TYPE}")
    if media_type != FORM_TYPE:
        raise InvalidRequest(f"Content-Type must be {FORM_TYPE}")
    body = await read_body(request, limit)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The form body must be UTF-8 (RFC 6749 Appendix B)") from None
    return parse_pairs(text)
