"""The lean Redis connection of the per-request commands (opmaat/redis_wire.py): replies in
order to their callers, broken or hostile bytes from the server, AUTH, SELECT, NOSCRIPT,
restarts, timeouts, and the stores it is not for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from opmaat.redis_store import RedisStore, StoreUnavailable
from opmaat.redis_wire import (
    _INCOMPLETE,
    RedisWire,
    WireError,
    _Replies,
    encode_command,
    parse_reply,
)
from tests.redis.conftest import RedisServer

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,  # what a worker of `opmaat serve` runs
}


def run(coro: Awaitable[Any], loop: str = "asyncio") -> Any:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


# -- replies, without a server ---------------------------------------------------------------

REPLIES: list[tuple[bytes, Any]] = [
    (b"+OK\r\n", b"OK"),
    (b":42\r\n", 42),
    (b":-7\r\n", -7),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*3\r\n:1\r\n$2\r\nab\r\n*1\r\n+x\r\n", [1, b"ab", [b"x"]]),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # a bulk string may hold CRLF
]


@pytest.mark.parametrize(("data", "value"), REPLIES)
def test_each_kind_of_reply_is_read_whole_and_never_from_a_part(data: bytes, value: Any) -> None:
    assert parse_reply(data) == (value, len(data))
    for cut in range(len(data)):
        assert parse_reply(data[:cut]) == (_INCOMPLETE, 0), cut
    assert parse_reply(b"junk" + data + b"+next\r\n", 4) == (value, 4 + len(data))


def test_an_error_reply_is_returned_for_its_caller_to_raise() -> None:
    error, end = parse_reply(b"-NOSCRIPT No matching script\r\n")
    assert isinstance(error, ResponseError)
    assert str(error).startswith("NOSCRIPT")
    assert end == 30


@pytest.mark.parametrize(
    "data",
    [
        b"?what\r\n",  # no such type
        b":12a\r\n",
        b"$x\r\n",
        b"$-\r\n",
        b"$99999999999999999999\r\n",  # a number past any length
        b"$3\r\nabcde\r\n",  # the bulk string runs on past its length
        b"$%d\r\n" % (600 * 1024 * 1024),  # past Redis's own limit for one string
        b"*1\r\n" * 9 + b":1\r\n",  # nested deeper than any reply of ours
        b"+" + b"a" * 70_000,  # a header line that never ends
    ],
)
def test_bytes_that_are_not_resp_are_a_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        parse_reply(data)


def test_commands_are_sent_as_arrays_of_bulk_strings() -> None:
    assert encode_command((b"SET", "ké", 12, b"\r\n")) == (
        b"*4\r\n$3\r\nSET\r\n$3\r\nk\xc3\xa9\r\n$2\r\n12\r\n$2\r\n\r\n\r\n"
    )


class Kept(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.writes = 0
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)
        self.writes += 1

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


def test_replies_go_to_callers_in_order_even_a_byte_at_a_time_and_past_a_caller_who_left() -> None:
    async def scenario() -> None:
        replies = _Replies()
        replies.connection_made(Kept())
        first, gone, third = replies.send(b"", 3)
        gone.cancel()  # its caller timed out: its reply still comes, and is dropped
        for byte in b"$1\r\na\r\n$4\r\nlate\r\n:3\r\n":
            replies.data_received(bytes([byte]))
        assert first.result() == b"a"
        assert third.result() == 3
        assert not replies.waiting
        assert not replies.buffer

    run(scenario())


@pytest.mark.parametrize("data", [b"+unasked\r\n", b"!garbage\r\n"])
def test_a_reply_nobody_asked_for_or_garbage_fails_every_caller_and_closes(data: bytes) -> None:
    async def scenario() -> None:
        replies = _Replies()
        transport = Kept()
        replies.connection_made(transport)
        waiting = replies.send(b"", 2) if data.startswith(b"!") else []
        replies.data_received(data)
        assert transport.aborted
        for future in waiting:
            with pytest.raises(WireError):
                future.result()
        with pytest.raises(WireError):
            replies.send(b"PING", 1)  # a broken connection takes nothing more

    run(scenario())


def test_a_lost_connection_fails_whoever_waits() -> None:
    async def scenario() -> None:
        replies = _Replies()
        replies.connection_made(Kept())
        (waiting,) = replies.send(b"", 1)
        replies.connection_lost(ConnectionResetError("reset by peer"))
        with pytest.raises(ConnectionResetError):
            waiting.result()

    run(scenario())


# -- against a real redis-server --------------------------------------------------------------


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_many_callers_at_once_on_one_connection_each_get_their_own_reply(
    redis_server: RedisServer, loop: str
) -> None:
    async def scenario() -> None:
        wire = RedisWire("127.0.0.1", redis_server.port)
        await asyncio.gather(*(wire.call(b"SET", f"k{i}", b"v%d" % i) for i in range(300)))
        got = await asyncio.gather(*(wire.call(b"GET", f"k{i}") for i in range(300)))
        assert got == [b"v%d" % i for i in range(300)]
        assert await wire.call(b"GET", "nothing") is None
        assert await wire.call_many((b"INCR", "n"), (b"INCRBY", "n", 5), (b"TTL", "n")) == [
            1,
            6,
            -1,
        ]
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await wire.call_many((b"INCR", "n"), (b"LPUSH", "n", "x"))
        assert await wire.call(b"GET", "n") == b"7"  # the pipeline's good command still ran
        await wire.close()

    run(scenario(), loop)


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_the_store_reads_writes_and_counts_through_the_wire(
    redis_server: RedisServer, loop: str
) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        assert store.wire is not None
        sent: list[bytes] = []
        real = store.wire.call_many

        async def counted(*commands: Any) -> list[Any]:
            sent.extend(c[0] for c in commands)
            return await real(*commands)

        store.wire.call_many = counted  # type: ignore[method-assign]
        record, token = await store.load("v1")
        assert (record, token) == (None, None)
        token = await store.store_if("v1", {"visits": 1}, 60, None)
        assert token is not None
        assert await store.store_if("v1", {"visits": 9}, 60, None) is None  # someone wrote
        assert await store.store_if("v1", {"visits": 2}, 60, token) is not None
        assert (await store.load("v1"))[0] == {"visits": 2}
        await store.tally("c1", "a", "impressions")
        assert (await store.tallies(["c1"]))["c1"]["a"]["impressions"] == 1
        assert [await store.bump("n", 60) for _ in range(3)] == [1, 2, 3]
        # A script's first call finds the server without it (NOSCRIPT) and sends it whole.
        first, again = [b"EVALSHA", b"EVAL"], [b"EVALSHA", b"EVALSHA"]
        tally = [b"HINCRBY", b"HINCRBY", b"EXPIRE"]  # one write, three replies
        assert sent == [b"GET", *first, *again, b"GET", *tally, *first, *again]
        await store.close()

    run(scenario(), loop)


def test_a_script_the_server_forgot_is_sent_again_whole(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        token = await store.store_if("v", {"a": 1}, 60, None)
        await store.client.script_flush()  # as after a restart of redis-server
        assert await store.store_if("v", {"a": 2}, 60, token) is not None
        assert (await store.load("v"))[0] == {"a": 2}
        assert await store.bump("n", 60) == 1
        await store.client.script_flush()
        assert await store.bump("n", 60) == 2
        assert store.errors == 0
        await store.close()

    run(scenario())


def test_a_password_a_user_and_a_database_are_used_on_the_wire(redis_server: RedisServer) -> None:
    locked = redis_server

    async def scenario() -> None:
        admin = Redis(port=locked.port)
        await admin.acl_setuser(
            "edge", enabled=True, passwords=["+edge-pw"], keys="*", commands=["+@all"], channels="*"
        )
        await admin.config_set("requirepass", "s3cret")
        await admin.aclose()
        for url in (
            f"redis://:s3cret@127.0.0.1:{locked.port}/3",
            f"redis://edge:edge-pw@127.0.0.1:{locked.port}/3",
        ):
            store = RedisStore.from_url(url)
            assert store.wire is not None
            await store.store_if("v", {"by": url[8:12]}, 60, None)
            await store.close()
            other = Redis(port=locked.port, password="s3cret", db=3)
            assert await other.exists("opmaat:{v}:profile") == 1
            await other.delete("opmaat:{v}:profile")
            first = Redis(port=locked.port, password="s3cret", db=0)
            assert await first.dbsize() == 0
            await other.aclose()
            await first.aclose()
        wrong = RedisStore.from_url(f"redis://:not-it@127.0.0.1:{locked.port}/0")
        with pytest.raises(StoreUnavailable) as refused:
            await wrong.load("v")
        assert "not-it" not in str(refused.value)
        await wrong.close()

    run(scenario())


def test_after_a_restart_of_redis_the_next_call_connects_again(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url + "?breaker_failures=100")
        await store.store_if("v", {"a": 1}, 60, None)
        redis_server.stop()
        with pytest.raises(StoreUnavailable):
            await store.load("v")
        redis_server.start()  # empty: it kept nothing on disk
        assert await store.load("v") == (None, None)
        assert await store.store_if("v", {"a": 2}, 60, None) is not None
        await store.close()

    run(scenario())


def test_a_server_that_never_answers_fails_every_waiting_caller_at_the_timeout(
    silent_redis: str,
) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(silent_redis + "?timeout_ms=100&breaker_failures=100")
        started = time.monotonic()
        results = await asyncio.gather(
            *(store.load(f"v{i}") for i in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert time.monotonic() - started < 1.0  # one timeout for all of them, not twenty
        await store.close()

    run(scenario())


def test_one_store_closed_and_used_again_on_another_event_loop(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url)

    async def write() -> None:
        await store.store_if("v", {"a": 1}, 60, None)
        await store.close()  # a connection belongs to its loop: closed before the loop ends

    async def read() -> Any:
        try:
            return await store.load("v")  # a new loop: a new connection
        finally:
            await store.close()

    run(write())
    assert run(read(), "uvloop")[0] == {"a": 1}


def test_tls_and_cluster_stores_keep_redis_py_for_every_command(redis_cluster: str) -> None:
    assert RedisStore.from_url("rediss://127.0.0.1:6380/0").wire is None
    # A cluster client's first call learns the slots from the nodes: time for that on a
    # loaded machine.
    cluster = RedisStore.from_url(redis_cluster + "?timeout_ms=5000")
    assert cluster.wire is None

    async def scenario() -> None:
        try:
            token = await cluster.store_if("v", {"a": 1}, 60, None)
            assert (await cluster.load("v")) == ({"a": 1}, token)
        finally:
            await cluster.close()

    run(scenario())


def test_a_late_reply_keeps_the_connection_a_silent_one_loses_it() -> None:
    async def scenario() -> None:
        wire = RedisWire("127.0.0.1", 1)
        replies = _Replies()
        replies.connection_made(Kept())
        wire._replies = replies
        first, second = replies.send(b"", 2)
        first.cancel()  # its caller timed out, but the server is still talking
        replies.data_received(b"+OK\r\n")
        wire.timed_out(0.05)
        assert wire._replies is replies
        await asyncio.sleep(0.06)  # now nothing for longer than the timeout while one waits
        wire.timed_out(0.05)
        assert wire._replies is None
        with pytest.raises(WireError, match="sent nothing in time"):
            second.result()

    run(scenario())


def test_the_commands_of_one_turn_of_the_loop_go_out_in_one_write() -> None:
    async def scenario() -> None:
        replies = _Replies()
        transport = Kept()
        replies.connection_made(transport)
        for i in range(5):  # five requests' commands in one turn: one system call, not five
            replies.send(encode_command((b"GET", f"k{i}")), 1)
        assert transport.writes == 0
        await asyncio.sleep(0)
        assert transport.writes == 1
        assert transport.written == b"".join(encode_command((b"GET", f"k{i}")) for i in range(5))
        replies.send(encode_command((b"PING",)), 1)
        await asyncio.sleep(0)
        assert transport.writes == 2

    run(scenario())
