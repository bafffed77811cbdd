"""cache/pipeline.py against a scripted server on a loopback port: replies matched to commands in order
however the bytes are split, concurrent commands on one connection, error replies, a server that stops
answering (timeout, then a new connection) and one that closes the connection (the command is sent once
more on a new one). Real Redis is exercised by tests/ops/test_redis_outage.py and the fast-path tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from authserver.cache.pipeline import Pipeline, encode
from authserver.errors import StorageUnavailable

MGET_REPLY = b"*3\r\n$5\r\nvalue\r\n$-1\r\n$3\r\n\xc3\xa9t\r\n"


class FakeRedis:
    """Answers each complete command with `answer(command_parts)`, written in pieces of `chunk` bytes."""

    def __init__(self, answer: Callable[[list[bytes]], bytes | None], chunk: int = 0) -> None:
        self.answer = answer
        self.chunk = chunk
        self.connections = 0
        self.commands: list[list[bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readline()
                if not head:
                    return
                parts = []
                for _ in range(int(head[1:])):
                    size = int((await reader.readline())[1:])
                    parts.append((await reader.readexactly(size + 2))[:-2])
                self.commands.append(parts)
                reply = self.answer(parts)
                if reply is None:  # hang up without answering
                    writer.close()
                    return
                step = self.chunk or len(reply) or 1
                for start in range(0, len(reply), step):
                    writer.write(reply[start : start + step])
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return


async def serve(fake: FakeRedis) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, 30))


@pytest.mark.parametrize("chunk", [0, 1, 2, 5])
def test_replies_are_matched_in_order_however_they_are_split(chunk):
    async def scenario() -> None:
        fake = FakeRedis(lambda parts: MGET_REPLY if parts[0] == b"MGET" else b":%d\r\n" % len(parts), chunk)
        server, port = await serve(fake)
        pipeline = Pipeline("127.0.0.1", port)
        try:
            replies = await asyncio.gather(
                pipeline.execute("MGET", "a", "b", "c"),
                pipeline.execute("EXISTS", "x"),
                pipeline.execute("MGET", "a", "b", "c"),
                pipeline.execute("EXISTS", "x", "y", "z"),
            )
            assert replies == [["value", None, "ét"], 2, ["value", None, "ét"], 4]
            assert fake.connections == 1  # one connection, commands pipelined
        finally:
            await pipeline.close()
            server.close()

    run(scenario())


def test_authentication_and_database_selection_come_first():
    async def scenario() -> None:
        fake = FakeRedis(lambda parts: b"+OK\r\n" if parts[0] in (b"AUTH", b"SELECT") else MGET_REPLY)
        server, port = await serve(fake)
        pipeline = Pipeline("127.0.0.1", port, db=5, username="app", password="pw")
        try:
            assert await pipeline.execute("MGET", "a", "b", "c") == ["value", None, "ét"]
            assert fake.commands[:2] == [[b"AUTH", b"app", b"pw"], [b"SELECT", b"5"]]
        finally:
            await pipeline.close()
            server.close()

    run(scenario())


def test_an_error_reply_or_a_refused_password_is_storage_unavailable():
    async def scenario() -> None:
        fake = FakeRedis(lambda parts: b"-WRONGPASS invalid password\r\n")
        server, port = await serve(fake)
        try:
            with pytest.raises(StorageUnavailable):
                await Pipeline("127.0.0.1", port, password="wrong").execute("MGET", "a")
            with pytest.raises(StorageUnavailable):
                await Pipeline("127.0.0.1", port).execute("MGET", "a")
        finally:
            server.close()

    run(scenario())


def test_a_server_that_stops_answering_times_out_and_a_new_connection_follows():
    async def scenario() -> None:
        silent = {"on": True}
        fake = FakeRedis(lambda parts: b"" if silent["on"] else MGET_REPLY)
        server, port = await serve(fake)
        pipeline = Pipeline("127.0.0.1", port, timeout=0.3)
        try:
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await pipeline.execute("MGET", "a", "b", "c")
            assert 0.25 < time.monotonic() - started < 5
            silent["on"] = False
            assert await pipeline.execute("MGET", "a", "b", "c") == ["value", None, "ét"]
            assert fake.connections == 2  # the timed-out connection was out of step: closed, replaced
        finally:
            await pipeline.close()
            server.close()

    run(scenario())


def test_a_closed_connection_is_replaced_and_the_command_sent_again():
    async def scenario() -> None:
        hang_ups = {"left": 1}

        def answer(parts: list[bytes]) -> bytes | None:
            if hang_ups["left"]:
                hang_ups["left"] -= 1
                return None
            return MGET_REPLY

        fake = FakeRedis(answer)
        server, port = await serve(fake)
        pipeline = Pipeline("127.0.0.1", port)
        try:
            assert await pipeline.execute("MGET", "a", "b", "c") == ["value", None, "ét"]
            assert fake.connections == 2
        finally:
            await pipeline.close()
            server.close()

    run(scenario())


def test_nothing_listening_is_storage_unavailable():
    async def scenario() -> None:
        server, port = await serve(FakeRedis(lambda parts: MGET_REPLY))
        server.close()
        await server.wait_closed()
        with pytest.raises(StorageUnavailable):
            await Pipeline("127.0.0.1", port, timeout=1).execute("MGET", "a")

    run(scenario())


def test_commands_are_resp_arrays_of_bulk_strings():
    assert encode("MGET", "k", "é") == b"*3\r\n$4\r\nMGET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"
