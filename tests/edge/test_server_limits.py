"""opmaat_edge.server_limits in process: the header block's byte count on an asyncio server
with a tiny app, the open-files limit, the settings, and how `opmaat serve` starts uvicorn.
tests/edge/test_slow_clients.py holds the timeouts and the cap against a real edge process."""

from __future__ import annotations

import asyncio
import os
import re
import resource
from typing import Any

import pytest
from bench.served import MemoryTransport
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from opmaat_edge.cli import main
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.server_limits import LimitedHttpProtocol, open_files_for
from opmaat_edge.settings import ServerLimits, SettingsError

LIMIT = 4096
LIMITS = ServerLimits(header_timeout=5, body_timeout=5, max_header_bytes=LIMIT)


async def echo_length(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the length of the request's body."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"%d" % size
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def request(header_block: int, body: bytes = b"", *, close: bool = True) -> bytes:
    """A request whose header block (request line to the blank line) is ``header_block`` bytes."""
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % len(body)
    if close:
        head += b"Connection: close\r\n"
    head += b"X-Pad: "
    pad = header_block - len(head) - len(b"\r\n\r\n")
    return head + b"p" * pad + b"\r\n\r\n" + body


def exchange(chunks: list[bytes]) -> bytes:
    """Everything a LimitedHttpProtocol server answers to ``chunks``, sent one write each,
    until it closes the connection."""

    async def run() -> bytes:
        config = Config(app=echo_length, lifespan="off", ws="none", log_config=None)
        config.load()
        state = ServerState()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: LimitedHttpProtocol(config, state, {}, limits=LIMITS), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.001)  # each its own read, as far as the kernel agrees
            return await asyncio.wait_for(reader.read(), 5)
        except ConnectionError:  # refused while we were still sending
            return b""
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(run())


def statuses(answer: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("write", [LIMIT * 2, 37], ids=["one write", "37 bytes a write"])
def test_a_header_block_of_the_limit_is_answered_and_one_byte_more_is_refused(write: int) -> None:
    assert statuses(exchange(pieces(request(LIMIT), write))) == [200]
    refused = exchange(pieces(request(LIMIT + 1), write))
    assert statuses(refused) == [431]
    assert refused.endswith(b'{"error": "request header too large"}')


def test_a_body_in_the_same_write_as_its_header_block_does_not_count() -> None:
    answer = exchange([request(LIMIT - 10, b"b" * 3 * LIMIT)])
    assert statuses(answer) == [200]
    assert answer.endswith(b"\r\n\r\n%d" % (3 * LIMIT))


def test_pipelined_requests_in_one_write_are_all_answered() -> None:
    kept_alive = b"".join(request(LIMIT - 100, b"b" * 1000, close=False) for _ in range(2))
    assert statuses(exchange([kept_alive + request(LIMIT)])) == [200, 200, 200]


def test_of_a_header_block_of_a_megabyte_the_parser_reads_only_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fed: list[int] = []
    parent = HttpToolsProtocol.data_received

    def counting(self: LimitedHttpProtocol, data: bytes) -> None:
        fed.append(len(data))
        parent(self, data)

    monkeypatch.setattr(HttpToolsProtocol, "data_received", counting)
    assert statuses(exchange(pieces(request(1 << 20), 64 * 1024))) in ([431], [])
    assert sum(fed) == LIMIT


def writes_for(app: Any, data: bytes, *, until: bytes, answers: int = 1) -> list[bytes]:
    """The writes a LimitedHttpProtocol makes for ``data`` (requests in one read) until it
    wrote ``answers`` answers and what it wrote ends with ``until``, each write as it came
    (after a second, whatever came)."""

    async def run() -> list[bytes]:
        config = Config(app=app, lifespan="off", ws="none", log_config=None)
        config.load()
        protocol = LimitedHttpProtocol(config, ServerState(), {}, limits=LIMITS)
        transport = MemoryTransport()
        transport.protocol = protocol
        protocol.connection_made(transport)
        protocol.data_received(data)
        for _ in range(1000):
            sent = b"".join(transport.writes)
            if sent.count(b"HTTP/1.1 2") >= answers and sent.endswith(until):
                break
            await asyncio.sleep(0.001)
        protocol.connection_lost(None)
        return transport.writes

    return asyncio.run(run())


def test_an_answer_goes_out_in_one_write_with_its_header_block() -> None:
    kept_alive = request(200, b"abc", close=False)
    writes = writes_for(echo_length, kept_alive * 2, until=b"\r\n\r\n3", answers=2)
    assert len(writes) == 2, writes  # one for each answer
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b"\r\n\r\n3") for w in writes)


def test_the_deadline_closes_a_waiting_connection_only_while_it_is_still_this_protocols() -> None:
    async def run() -> tuple[bool, bool, bool]:
        config = Config(app=echo_length, lifespan="off", ws="none", log_config=None)
        config.load()
        loop = asyncio.get_running_loop()
        results = []
        for handed_over in (False, True):
            protocol = LimitedHttpProtocol(config, ServerState(), {}, limits=LIMITS)
            transport = MemoryTransport()
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            assert protocol.timer is not None  # waiting for the first header block
            if handed_over:  # as uvicorn does on a WebSocket upgrade
                transport.set_protocol(object())
            protocol.deadline = loop.time() - 1
            protocol.check()
            results.append(transport.closing)
        moved = LimitedHttpProtocol(config, ServerState(), {}, limits=LIMITS)
        transport = MemoryTransport()
        transport.set_protocol(moved)
        moved.connection_made(transport)
        moved.deadline = loop.time() + 60  # a later request moved it: the timer waits again
        moved.check()
        results.append(transport.closing or moved.timer is None)
        moved.connection_lost(None)
        return results[0], results[1], results[2]

    closed, closed_after_hand_over, closed_before_deadline = asyncio.run(run())
    assert closed
    assert not closed_after_hand_over
    assert not closed_before_deadline


def test_a_streamed_answer_sends_its_header_block_before_its_body_comes() -> None:
    async def slow_body(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-length", b"4")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"late"})

    writes = writes_for(slow_body, request(100), until=b"late")
    assert len(writes) == 2, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n")
    assert writes[1] == b"late"


def test_100_continue_is_sent_before_the_answer_and_the_answer_still_in_one_write() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    writes = writes_for(echo_length, head + b"abc", until=b"\r\n\r\n3")
    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(writes) == 2
    assert writes[1].startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize(
    ("soft", "hard", "connections", "set_to"),
    [
        (1024, 524288, 1000, [(2064, 524288)]),  # systemd's default: the soft limit is raised
        (1024, 1024, 480, [(1024, 1024)]),  # the hard limit is too low: fewer connections
        (4096, 4096, 1000, []),
        (resource.RLIM_INFINITY, resource.RLIM_INFINITY, 1000, []),
    ],
)
def test_the_open_files_limit_is_raised_to_fit_the_connections_or_the_cap_lowered(
    monkeypatch: pytest.MonkeyPatch,
    soft: int,
    hard: int,
    connections: int,
    set_to: list[tuple[int, int]],
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, hard))
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: calls.append(limits))
    assert open_files_for(1000) == connections
    assert calls == set_to


def test_the_limits_default_and_are_read_from_the_environment() -> None:
    assert ServerLimits.from_env({}) == ServerLimits(10.0, 10.0, 64 * 1024, 1000)
    env = {
        "OPMAAT_HEADER_TIMEOUT": "2.5",
        "OPMAAT_BODY_TIMEOUT": "30",
        "OPMAAT_MAX_HEADER_BYTES": "16384",
        "OPMAAT_MAX_CONNECTIONS": "200",
    }
    assert ServerLimits.from_env(env) == ServerLimits(2.5, 30.0, 16384, 200)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPMAAT_HEADER_TIMEOUT", "0"),
        ("OPMAAT_HEADER_TIMEOUT", "nan"),
        ("OPMAAT_BODY_TIMEOUT", "soon"),
        ("OPMAAT_BODY_TIMEOUT", "301"),
        ("OPMAAT_MAX_HEADER_BYTES", "100"),
        ("OPMAAT_MAX_CONNECTIONS", "0"),
        ("OPMAAT_MAX_CONNECTIONS", "-5"),
    ],
)
def test_serve_refuses_a_bad_limit_before_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        ServerLimits.from_env({name: value})
    monkeypatch.setenv("OPMAAT_SECRET_KEYS", "a-long-enough-signing-key")
    monkeypatch.setenv(name, value)
    assert main(["serve", "--config", str(DEMO_CAMPAIGNS)]) == 2
    assert name in capsys.readouterr().err


def test_serve_runs_uvicorn_with_the_limited_protocol_and_the_connections_that_fit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    ran: dict[str, Any] = {}
    monkeypatch.setattr(os, "environ", {**os.environ, "OPMAAT_SECRET_KEYS": "k" * 20})
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(kw, app=app))
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: None)
    assert main(["serve", "--config", str(DEMO_CAMPAIGNS)]) == 0
    assert ran["http"] is LimitedHttpProtocol
    assert os.environ["OPMAAT_MAX_CONNECTIONS"] == "480"  # what the workers read
    assert "room for 480 connections per worker" in capsys.readouterr().err
