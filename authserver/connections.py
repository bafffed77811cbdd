"""Limits on client connections, so that slow or oversized requests cannot tie up a worker.

uvicorn closes a kept-alive connection that stays idle, but any byte cancels that timer, and it puts
no deadline on reading a request's headers nor (with httptools) a bound on their size: a client that
trickles one header byte at a time ("slowloris") holds its connection, its buffers and a file
descriptor for as long as it likes, and a few thousand of them exhaust a worker. This protocol adds:

- a header deadline: from the moment a connection opens, or a kept-alive connection finishes a
  response, the next request's line and headers must be complete within `header_timeout` seconds,
  however they trickle in; otherwise 408 and the connection is closed;
- a header size bound: a request line plus headers over `max_header_bytes` gets 431 (RFC 6585 §5)
  and the connection is closed, before any of it reaches the application;
- the keep-alive idle timeout (uvicorn's own, set from the settings).
Bodies are bounded by AUTHSERVER_MAX_BODY_BYTES in the application.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    max_header_bytes: int = 16 * 1024
    keep_alive: float = 5.0


class _HeadersTooLarge(Exception):
    pass


def _reply(transport: asyncio.Transport, status: bytes) -> None:
    """A bodiless final answer, then close (the request may be half read: nothing after it is trusted)."""
    if not transport.is_closing():  # (uvloop's transports do not subclass asyncio's: no isinstance)
        transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        transport.close()


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a header size bound (see the module)."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0  # parsed request line and headers
        self._raw_bytes = 0  # bytes received while they were incomplete
        self._headers_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._headers_arrived()
        self._header_bytes = self._raw_bytes = 0
        self._header_deadline = self.loop.call_later(self.limits.header_timeout, self._headers_too_slow)

    def _headers_arrived(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        _reply(self.transport, b"408 Request Timeout")

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._headers_too_large = True
            raise _HeadersTooLarge  # httptools stops parsing and raises HttpParserCallbackError

    def data_received(self, data: bytes) -> None:
        waiting = self._header_deadline is not None
        super().data_received(data)
        # httptools hands over a header only once it is complete, so one endless header would never
        # reach the counting in on_header: while the headers are incomplete, every byte is theirs.
        if waiting and self._header_deadline is not None:
            self._raw_bytes += len(data)
            if self._raw_bytes > self.limits.max_header_bytes:
                self._headers_arrived()
                _reply(self.transport, b"431 Request Header Fields Too Large")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._header_bytes = 0  # a pipelined request counts its own headers
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._headers_arrived()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with 400; a header bound we imposed is a 431.
        if self._headers_too_large:
            _reply(self.transport, b"431 Request Header Fields Too Large")
            return
        super().send_400_response(msg)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn armed its keep-alive timer: the connection now waits for a new request, whose
        # headers get the same deadline. (A pipelined request already has its headers.)
        if self.timeout_keep_alive_task is not None:
            self._await_headers()


def protocol_class(limits: ConnectionLimits) -> type[LimitedHttpProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to `limits`."""
    return type("LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits})
