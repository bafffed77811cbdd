"""One pipelined connection to a single Redis server for the reads made on the event loop.

The introspection fast path reads its revocation entries with one MGET per request. Through redis-py's
asyncio client that read cost more CPU than the rest of the request together: a connection checked out
of a pool and back, a readiness probe, `asyncio.wait_for` (a task per call) around the write and the
read, the retry wrapper and the RESP3 parser. Here commands are written as they come, on one
connection per event loop, and their replies are matched in order (RESP pipelining): concurrent
requests share it with no pool, no lock and no task, and a reply costs one small parse.

Failures look like the rest of the cache's: StorageUnavailable. A reply that does not come within
`timeout` fails its command and closes the connection (later replies could not be matched any more);
a connection that is lost fails what waits on it, and the next command opens a new one (a command that
was never answered because the connection was already gone is sent once more on the new one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from authserver.errors import StorageUnavailable

_INCOMPLETE = object()


class ReplyError(Exception):
    """Redis answered with an error reply (`-ERR ...`)."""


class _Lost(Exception):
    """The connection closed before the command was answered."""


def encode(*parts: str | bytes) -> bytes:
    """A command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse(buffer: bytes | bytearray, pos: int) -> tuple[object, int]:
    """One RESP2 reply at `pos`: (value, position after it), or (_INCOMPLETE, pos) when more bytes are
    needed. Bulk strings are decoded as UTF-8 (the cache stores text); an error reply is a ReplyError."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind = buffer[pos]
    line = bytes(buffer[pos + 1 : end])
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, end + 2
        stop = end + 2 + size
        if len(buffer) < stop + 2:
            return _INCOMPLETE, pos
        return bytes(buffer[end + 2 : stop]).decode(), stop + 2
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, end + 2
        items = []
        at = end + 2
        for _ in range(count):
            item, at = parse(buffer, at)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, at
    if kind == 0x2B:  # + simple string
        return line.decode(), end + 2
    if kind == 0x3A:  # : integer
        return int(line), end + 2
    if kind == 0x2D:  # - error
        return ReplyError(line.decode(errors="replace")), end + 2
    raise ValueError(f"not a RESP reply: {bytes(buffer[pos : pos + 16])!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[asyncio.Future[object], asyncio.TimerHandle]] = deque()
        self.buffer = bytearray()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def send(self, command: bytes) -> asyncio.Future[object]:
        if self.closed or self.transport is None:
            raise _Lost
        future: asyncio.Future[object] = self.loop.create_future()
        timer = self.loop.call_later(self.timeout, self._expired, future)
        self.waiting.append((future, timer))
        self.transport.write(command)
        return future

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        pos = 0
        try:
            while self.waiting:
                reply, after = parse(self.buffer, pos)
                if reply is _INCOMPLETE:
                    break
                pos = after
                future, timer = self.waiting.popleft()
                timer.cancel()
                if not future.done():
                    future.set_result(reply)
        except ValueError:  # not Redis, or out of step: nothing later can be trusted
            self._close()
        del self.buffer[:pos]

    def _expired(self, future: asyncio.Future[object]) -> None:
        if not future.done():
            future.set_exception(StorageUnavailable("redis did not answer in time"))
        self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiting:
            future, timer = self.waiting.popleft()
            timer.cancel()
            if not future.done():
                future.set_exception(_Lost())


class Pipeline:
    """Commands to one Redis server (host, port, db, credentials) over one connection per event loop."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 2.0,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def execute(self, *parts: str | bytes) -> object:
        command = encode(*parts)
        for attempt in (1, 2):
            protocol = await self._connection()
            try:
                reply = await protocol.send(command)
            except _Lost:
                if attempt == 2:
                    raise StorageUnavailable("redis connection lost") from None
                continue
            if isinstance(reply, ReplyError):
                raise StorageUnavailable(f"redis: {reply}")
            return reply
        raise StorageUnavailable("redis connection lost")  # (not reached)

    async def _connection(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        if protocol is not None and not protocol.closed and self._loop is loop:
            return protocol
        if self._connecting is None or self._loop is not loop:
            self._loop = loop
            self._connecting = loop.create_task(self._connect(loop))
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        protocol = _Protocol(loop, self.timeout)
        try:
            async with asyncio.timeout(self.timeout):
                await loop.create_connection(lambda: protocol, self.host, self.port)
                if self.username or self.password:  # as redis-py: AUTH [username] password
                    auth = (self.username, self.password or "") if self.username else (self.password or "",)
                    await _checked(protocol.send(encode("AUTH", *auth)))
                if self.db:
                    await _checked(protocol.send(encode("SELECT", str(self.db))))
        except (OSError, TimeoutError, _Lost, ReplyError) as exc:
            protocol._close()
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}") from exc
        self._protocol = protocol
        return protocol

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(RuntimeError):
                protocol.transport.close()


async def _checked(reply: asyncio.Future[object]) -> None:
    value = await reply
    if isinstance(value, ReplyError):
        raise value
