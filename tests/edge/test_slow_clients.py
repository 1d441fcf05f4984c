"""Slow and huge requests on raw sockets against a real edge process (`opmaat serve`): idle
connections, headers sent a byte at a time, bodies that never end, header blocks of megabytes
and more idle sockets than the edge may hold. Each is cut off by a limit of
opmaat_edge.server_limits, and requests that keep within them are answered as before.

The edge runs with half-second timeouts and a cap of 20 connections so the tests stay fast.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import time
from collections.abc import Iterator

import pytest
from soak.traffic import Edge, start_edge

TIMEOUT = 0.5  # OPMAAT_HEADER_TIMEOUT and OPMAAT_BODY_TIMEOUT of the edge under test
CAP = 20  # OPMAAT_MAX_CONNECTIONS
SLACK = 1.5  # the timers' and this machine's lateness
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    running = start_edge(
        tmp_path_factory.mktemp("slow-clients-edge"),
        1000,
        {
            "OPMAAT_HEADER_TIMEOUT": str(TIMEOUT),
            "OPMAAT_BODY_TIMEOUT": str(TIMEOUT),
            "OPMAAT_MAX_CONNECTIONS": str(CAP),
        },
        log_format="json",
    )
    yield running
    running.stop()


def connect(edge: Edge) -> socket.socket:
    return socket.create_connection(("127.0.0.1", edge.port), timeout=TIMEOUT + 2 * SLACK)


def closed_after(sock: socket.socket, started: float, *, trickle: bytes = b"") -> float:
    """Seconds from ``started`` until the edge closes ``sock``, sending it one byte of
    ``trickle`` every 0.1 s meanwhile. Fails when the edge answers or keeps it open too long."""
    deadline = started + TIMEOUT + 2 * SLACK
    while time.monotonic() < deadline:
        if trickle:
            with contextlib.suppress(OSError):
                sock.send(trickle[:1])
            trickle = trickle[1:]
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable:
            try:
                got = sock.recv(65536)
            except ConnectionResetError:
                got = b""
            assert got == b"", f"answered instead of closed: {got[:200]!r}"
            return time.monotonic() - started
    raise AssertionError("still open")


def answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of one answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        assert got, f"closed after {data!r}"
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    assert length, head
    while len(body) < int(length.group(1)):
        got = sock.recv(65536)
        assert got
        body += got
    return int(head.split(b" ", 2)[1]), body


def test_an_idle_connection_is_closed_after_the_header_timeout(edge: Edge) -> None:
    with connect(edge) as sock:
        started = time.monotonic()
        assert TIMEOUT - 0.1 < closed_after(sock, started) < TIMEOUT + SLACK


def test_headers_sent_a_byte_at_a_time_are_cut_off_although_bytes_keep_coming(
    edge: Edge,
) -> None:
    slowloris = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    with connect(edge) as sock:
        started = time.monotonic()
        assert closed_after(sock, started, trickle=slowloris) < TIMEOUT + SLACK


def test_the_header_timeout_runs_again_for_each_request_on_a_kept_alive_connection(
    edge: Edge,
) -> None:
    with connect(edge) as sock:
        for _ in range(3):  # together longer than one timeout, each well within its own
            sock.sendall(HEALTHZ)
            assert answer(sock)[0] == 200
            time.sleep(TIMEOUT / 2)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        assert closed_after(sock, started, trickle=b"Host: 127.0.0.1\r\nX: " + b"a" * 100) < (
            TIMEOUT + SLACK
        )


def test_a_body_that_never_ends_is_cut_off_and_logged_as_no_error(edge: Edge) -> None:
    offset = edge.log.stat().st_size
    head = b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 400\r\n\r\n"
    with connect(edge) as sock:
        sock.sendall(head + b'{"type":')
        started = time.monotonic()
        assert closed_after(sock, started, trickle=b'"goal"' + b" " * 100) < TIMEOUT + SLACK
    with connect(edge) as sock:
        sock.sendall(HEALTHZ)
        assert answer(sock)[0] == 200
    with edge.log.open("rb") as f:
        f.seek(offset)
        lines = [json.loads(line) for line in f.read().splitlines()]
    assert [line["msg"] for line in lines if line["level"] in ("error", "critical")] == []


def test_a_header_block_of_a_megabyte_is_refused_without_the_edge_growing(edge: Edge) -> None:
    before = edge.rss_kb()
    huge = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (2 << 20)
    socks = [connect(edge) for _ in range(10)]
    try:
        for sock in socks:  # sent, never finished: the edge would hold every byte
            with contextlib.suppress(OSError):
                sock.sendall(huge)
        grown_kb = edge.rss_kb() - before
        statuses: list[int | None] = []
        for sock in socks:
            try:
                statuses.append(answer(sock)[0])
            except (AssertionError, OSError):
                statuses.append(None)  # closed (or reset) without an answer
    finally:
        for sock in socks:
            sock.close()
    assert set(statuses) <= {431, None}
    assert 431 in statuses
    assert grown_kb < 8 * 1024, f"the edge grew by {grown_kb // 1024} MB"
    assert edge.get("/healthz")[0] == 200


def test_a_header_block_within_the_limit_with_its_body_in_the_same_write_is_answered(
    edge: Edge,
) -> None:
    body = b'{"slots":["hero"],"url":"http://127.0.0.1/"}'
    cookie = b"Cookie: " + b"; ".join(b"c%d=%s" % (i, b"v" * 90) for i in range(150))
    request = (
        b"POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + cookie
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    assert 14_000 < len(request) < 64 * 1024
    with connect(edge) as sock:
        sock.sendall(request)
        status, answered = answer(sock)
    assert status == 200, answered[:200]
    assert "hero" in json.loads(answered)["slots"]


def test_past_the_connection_cap_new_connections_are_refused_until_idle_ones_go(
    edge: Edge,
) -> None:
    idle = [connect(edge) for _ in range(CAP)]
    try:
        time.sleep(0.2)
        started = time.monotonic()
        with connect(edge) as extra:  # refused before it sends a byte
            readable, _, _ = select.select([extra], [], [], TIMEOUT / 2)
            assert readable, "neither refused nor closed"
            got = b""
            with contextlib.suppress(ConnectionResetError):
                got = extra.recv(65536)
            assert got == b"", got[:200]
        while True:  # until the idle ones time out
            with connect(edge) as sock:
                sock.sendall(HEALTHZ)
                with contextlib.suppress(AssertionError, OSError):
                    assert answer(sock)[0] == 200
                    break
            assert time.monotonic() - started < TIMEOUT + SLACK, "refused for good"
            time.sleep(0.05)
    finally:
        for sock in idle:
            sock.close()


def test_a_websocket_upgrade_with_more_bytes_after_it_is_left_to_the_websocket_side(
    edge: Edge,
) -> None:
    """The edge has no WebSocket route: uvicorn hands the connection to its WebSocket protocol,
    which refuses it. What came after the upgrade request is not parsed as HTTP any more."""
    upgrade = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    with connect(edge) as sock:
        sock.sendall(upgrade + b"x" * 70_000)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while got := sock.recv(65536):
                data += got
    assert statuses(data) == [403]


def statuses(data: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
