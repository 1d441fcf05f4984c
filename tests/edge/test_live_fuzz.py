"""Malformed HTTP on the socket of a real edge process (`opmaat serve`, demo campaigns and demo
routes): huge headers and URLs, invalid UTF-8, NUL bytes, wrong content types, bodies cut short,
chunked garbage, JSON nested 10,000 deep, HTTP/0.9 and nonsense request lines.

For every case the edge either closes the connection or answers below 500; then it still
answers /healthz. Cases the application itself sees also get the answer they should (a 400
for JSON it cannot read, and so on), so a case cannot pass by never reaching the edge's code.
The edge runs with the largest body limit (1 MB), so deep JSON reaches the JSON parser.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from soak.traffic import Edge, start_edge

TIMEOUT = 5.0
MAX_BODY = 1 << 20

ANY = None  # anything but a 5xx: what uvicorn's HTTP parser makes of it is its business
PARSER = frozenset({400, None})  # refused by the HTTP parser (400, closed) or closed at once
CLOSED = frozenset({None})


@dataclass(frozen=True)
class Case:
    name: str
    chunks: tuple[bytes, ...]
    expect: frozenset[int | None] | None = ANY
    half_close: bool = False  # shut our side after sending: the request ends there


@dataclass
class Outcome:
    status: int | None  # None: closed without an answer
    raw: bytes = field(repr=False)
    hung: bool = False


def req(
    method: bytes,
    target: bytes,
    headers: Sequence[bytes] = (),
    body: bytes | None = None,
    *,
    length: int | None = None,
    host: bool = True,
) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1"]
    if host:
        lines.append(b"Host: 127.0.0.1")
    lines += headers
    if body is not None or length is not None:
        lines.append(b"Content-Length: %d" % (len(body or b"") if length is None else length))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def post(path: bytes, body: bytes, *headers: bytes) -> bytes:
    return req(b"POST", path, headers, body)


def case(name: str, raw: bytes | tuple[bytes, ...], expect: Any = ANY, **kw: Any) -> Case:
    chunks = raw if isinstance(raw, tuple) else (raw,)
    wanted = None if expect is None else frozenset(expect)
    return Case(name, chunks, wanted, **kw)


JSON_ROUTES = (
    (b"POST", b"/v1/decide"),
    (b"POST", b"/v1/events"),
    (b"POST", b"/v1/identify"),
    (b"POST", b"/v1/consent"),
    (b"PATCH", b"/v1/me"),
)
BODY_ROUTES = (*JSON_ROUTES, (b"POST", b"/me"))
DECIDE = b'{"slots":["hero","sidebar"],"url":"http://127.0.0.1/"}'
FORM = b"Content-Type: application/x-www-form-urlencoded"


def _route_name(method: bytes, path: bytes) -> str:
    return f"{method.decode()} {path.decode()}"


CASES: list[Case] = [
    # Huge headers
    case("header of 64 KB", req(b"GET", b"/healthz", [b"X-Big: " + b"a" * 65536]), {200, 400, 431}),
    case(
        "64 KB user agent and cookie on decide",
        post(
            b"/v1/decide", DECIDE, b"User-Agent: " + b"M" * 65536, b"Cookie: opmaat=" + b"c" * 65536
        ),
        {200, 400, 431},
    ),
    case(
        "1000 headers",
        req(b"GET", b"/healthz", [b"X-H-%d: v" % i for i in range(1000)]),
        {200, 400, 431},
    ),
    case(
        "1000 X-Forwarded-For headers on decide",
        post(
            b"/v1/decide",
            DECIDE,
            *[b"X-Forwarded-For: 203.0.113.%d" % (i % 250) for i in range(1000)],
        ),
        {200, 400, 431},
    ),
    case(
        "1000 cookies",
        post(
            b"/v1/decide", DECIDE, b"Cookie: " + b"; ".join(b"c%d=%d" % (i, i) for i in range(1000))
        ),
        {200},
    ),
    # Invalid UTF-8 on the wire
    case("invalid UTF-8 in the path", req(b"GET", b"/\xff\xfe/x")),
    case(
        "invalid UTF-8 in the decide query", req(b"GET", b"/v1/decide?slots=hero&url=\xc3\x28\xff")
    ),
    case(
        "invalid UTF-8 in User-Agent",
        post(b"/v1/decide", DECIDE, b"User-Agent: \xff\xfe\xc3\x28"),
        {200},
    ),
    case(
        "invalid UTF-8 in Referer",
        post(b"/v1/decide", DECIDE, b"Referer: http://x/\xc3\x28"),
        {200},
    ),
    case(
        "invalid UTF-8 in X-Forwarded-For",
        post(b"/v1/decide", DECIDE, b"X-Forwarded-For: \xff\xfe"),
        {200},
    ),
    case(
        "invalid UTF-8 in Cookie",
        post(b"/v1/decide", DECIDE, b"Cookie: opmaat=\xff\xfe; a=\xc3"),
        {200},
    ),
    case(
        "invalid UTF-8 in Accept-Language", req(b"GET", b"/me", [b"Accept-Language: \xff"]), {200}
    ),
    case(
        "invalid UTF-8 in Origin",
        post(b"/v1/consent", b'{"consent":"full"}', b"Origin: \xff"),
        {403},
    ),
    # The edge on 127.0.0.1 answers only its own names (OPMAAT_ALLOWED_HOSTS): 421.
    case("invalid UTF-8 in Host", req(b"GET", b"/", [b"Host: \xff\xfe"], host=False), {421}),
    *[
        case(
            f"invalid UTF-8 in the JSON body of {_route_name(m, p)}",
            req(
                m,
                p,
                [],
                b'{"slots":["hero"],"consent":"full","url":"http://127.0.0.1/\xc3\x28\xff"}',
            ),
            {400},
        )
        for m, p in JSON_ROUTES
    ],
    case("invalid UTF-8 in the privacy form", post(b"/me", b"consent=\xff\xfe", FORM), {400}),
    case(
        "percent-encoded invalid UTF-8 in the decide query",
        req(b"GET", b"/v1/decide?slots=hero&url=http%3A%2F%2F127.0.0.1%2F%FF%FE&referrer=%C3%28"),
        {200},
    ),
    case("percent-encoded invalid UTF-8 in a PURL token", req(b"GET", b"/p/%ff%fe%00"), {303, 404}),
    case("percent-encoded invalid UTF-8 in a product path", req(b"GET", b"/product/%ff%00"), {404}),
    case(
        "percent-encoded invalid UTF-8 on the privacy page", req(b"GET", b"/me?%ff=%fe%00"), {200}
    ),
    case(
        "lone surrogates in a JSON search referrer",
        post(
            b"/v1/decide",
            b'{"slots":["hero"],"url":"http://127.0.0.1/",'
            b'"referrer":"https://www.google.com/search?q=a\\udfffb"}',
        ),
        {200, 400},
    ),
    case(
        "lone surrogates in a JSON product",
        post(
            b"/v1/events",
            b'{"type":"goal","name":"add_to_cart","props":{"id":"\\ud800","name":"\\udfff"}}',
        ),
        {200, 400},
    ),
    # Content types
    case("decide without a content type", post(b"/v1/decide", DECIDE), {200}),
    case(
        "decide as text/plain (a beacon)",
        post(b"/v1/decide", DECIDE, b"Content-Type: text/plain"),
        {200},
    ),
    case("decide as a form", post(b"/v1/decide", b"slots=hero&url=x", FORM), {400}),
    case(
        "decide as multipart garbage",
        post(
            b"/v1/decide",
            b"--b\r\n\r\n\x00\xff--b--",
            b"Content-Type: multipart/form-data; boundary=b",
        ),
        {400},
    ),
    case(
        "decide as latin-1 JSON",
        post(
            b"/v1/decide",
            b'{"slots":["hero"],"url":"http://127.0.0.1/caf\xe9"}',
            b"Content-Type: application/json; charset=latin-1",
        ),
        {400},
    ),
    case(
        "a 5 KB content type", post(b"/v1/decide", DECIDE, b"Content-Type: " + b"x/" * 2500), {200}
    ),
    case(
        "privacy form as JSON",
        post(b"/me", b'{"consent":"none"}', b"Content-Type: application/json"),
        {415},
    ),
    case("privacy form without a content type", post(b"/me", b"consent=none"), {415}),
    case(
        "events as XML",
        post(b"/v1/events", b"<event type='goal'/>", b"Content-Type: application/xml"),
        {400},
    ),
    # Bodies cut short: more declared than sent, then our side closes
    *[
        case(
            f"body cut short on {_route_name(m, p)}",
            req(m, p, [FORM] if p == b"/me" else [], b'{"type":', length=1000),
            CLOSED | {400},
            half_close=True,
        )
        for m, p in BODY_ROUTES
    ],
    case(
        "body never sent",
        req(b"POST", b"/v1/events", [], None, length=50),
        CLOSED | {400},
        half_close=True,
    ),
    case(
        "request line only, then closed",
        (b"POST /v1/decide HTTP/1.1\r\n",),
        CLOSED | {400},
        half_close=True,
    ),
    case(
        "headers cut short",
        (b"POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",),
        CLOSED | {400},
        half_close=True,
    ),
    # Content-Length nonsense
    case(
        "negative Content-Length",
        req(b"POST", b"/v1/decide", [b"Content-Length: -1"], None),
        PARSER,
    ),
    case(
        "Content-Length not a number",
        req(b"POST", b"/v1/decide", [b"Content-Length: abc"], None),
        PARSER,
    ),
    case(
        "two different Content-Lengths",
        req(b"POST", b"/v1/decide", [b"Content-Length: 5", b"Content-Length: 50"], None) + b"{}",
        PARSER,
    ),
    case(
        "a Content-Length of 20 digits",
        req(b"POST", b"/v1/decide", [b"Content-Length: 99999999999999999999"], None),
        PARSER | {413},
    ),
    case(
        "Content-Length over the limit",
        req(b"POST", b"/v1/events", [], None, length=MAX_BODY + 1),
        {413},
    ),
    # Chunked garbage
    case(
        "chunk size not hex",
        req(b"POST", b"/v1/decide", [b"Transfer-Encoding: chunked"]) + b"zz\r\nhello\r\n0\r\n\r\n",
        PARSER,
    ),
    case(
        "chunk size of 18 hex digits",
        req(b"POST", b"/v1/decide", [b"Transfer-Encoding: chunked"])
        + b"FFFFFFFFFFFFFFFFFF\r\nab\r\n",
        PARSER | {413},
        half_close=True,
    ),
    case(
        "chunked and Content-Length together",
        req(b"POST", b"/v1/decide", [b"Transfer-Encoding: chunked", b"Content-Length: 4"])
        + b"0\r\n\r\n",
        ANY,
    ),
    case(
        "chunk longer than announced, then closed",
        req(b"POST", b"/v1/events", [b"Transfer-Encoding: chunked"]) + b'64\r\n{"type"',
        CLOSED | {400},
        half_close=True,
    ),
    case(
        "unknown transfer encoding",
        req(b"POST", b"/v1/decide", [b"Transfer-Encoding: gzip, rot13"]) + DECIDE,
        ANY,
    ),
    # Deep JSON
    *[
        case(
            f"JSON lists nested 10,000 deep on {_route_name(m, p)}",
            req(m, p, [], b"[" * 10000 + b"]" * 10000),
            {400},
        )
        for m, p in JSON_ROUTES
    ],
    *[
        case(
            f"JSON objects nested 10,000 deep on {_route_name(m, p)}",
            req(m, p, [], b'{"a":' * 10000 + b"1" + b"}" * 10000),
            {400},
        )
        for m, p in JSON_ROUTES
    ],
    case("JSON lists nested 100,000 deep", post(b"/v1/decide", b"[" * 100000), {400}),
    case(
        "JSON nested past the depth limit",
        post(b"/v1/events", b'{"type":"goal","props":' + b'{"a":' * 9 + b"1" + b"}" * 10),
        {400},
    ),
    case(
        "a number of 5,000 digits",
        post(b"/v1/decide", b'{"slots":["hero"],"x":' + b"7" * 5000 + b"}"),
        {400},
    ),
    case(
        "NaN and Infinity",
        post(b"/v1/events", b'{"type":"goal","name":"purchase","props":{"value":NaN}}'),
        {400},
    ),
    # NUL bytes
    case("NUL in the path", req(b"GET", b"/v1/decide?slots=he\x00ro"), PARSER),
    case("NUL in a header", req(b"GET", b"/healthz", [b"User-Agent: a\x00b"]), PARSER),
    case(
        "percent-encoded NUL in the query", req(b"GET", b"/v1/decide?slots=hero%00&url=%00"), {400}
    ),
    case("NUL bytes in a JSON body", post(b"/v1/decide", b'{"slots":["hero"]}\x00\x00'), {400}),
    case(
        "escaped NULs in JSON strings",
        post(
            b"/v1/decide",
            b'{"slots":["hero"],"url":"http://127.0.0.1/\\u0000","referrer":"\\u0000"}',
        ),
        {200},
    ),
    case("NUL in the method", (b"G\x00ET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",), PARSER),
    # HTTP/0.9 and nonsense request lines
    case("HTTP/0.9 request, then closed", (b"GET /\r\n",), CLOSED | {400}, half_close=True),
    case("HTTP/0.9 request line and a blank line", (b"GET /\r\n\r\n",)),
    case("a word", (b"HELLO\r\n\r\n",), PARSER),
    case("a method alone", (b"GET\r\n\r\n",), PARSER),
    case("HTTP/9.9", (b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",)),
    case("no method", (b" / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",), PARSER),
    case(
        "a fourth word on the request line",
        (b"GET / HTTP/1.1 please\r\nHost: 127.0.0.1\r\n\r\n",),
        PARSER,
    ),
    case(
        "a TLS ClientHello",
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),),
        PARSER,
    ),
    case("the HTTP/2 preface", (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",)),
    case("blank lines only, then closed", (b"\r\n\r\n\r\n",), CLOSED | {400}, half_close=True),
    case(
        "bare LF line endings", (b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",), {200, 400, None}
    ),
    case("a header without a colon", req(b"GET", b"/healthz", [b"Garbage"]), PARSER),
    case("a space before the colon", req(b"GET", b"/healthz", [b"User-Agent : x"]), PARSER),
    case("a folded header", req(b"GET", b"/healthz", [b"X-A: a", b" b"])),
    case("a 10 KB method", req(b"X" * 10240, b"/v1/decide")),
    case("a method uvicorn does not know", req(b"BREW", b"/v1/decide"), PARSER),
    case("a method the route does not take", req(b"PROPFIND", b"/v1/decide"), {405}),
    case("OPTIONS *", req(b"OPTIONS", b"*")),
    case("CONNECT", req(b"CONNECT", b"127.0.0.1:80")),
    case(
        "an absolute URL as target",
        req(b"GET", b"http://evil.example/v1/decide?slots=hero"),
        {200, 400},
    ),
    case("no Host header", req(b"GET", b"/healthz", host=False), {400, 421}),
    case(
        "another site's name resolved to this edge (DNS rebinding)",
        req(b"GET", b"/cockpit/login", [b"Host: rebind.evil.example:8000"], host=False),
        {421},
    ),
    # Huge URLs
    case("a 64 KB path", req(b"GET", b"/" + b"a" * 65536)),
    case("a 1 MB query", req(b"GET", b"/v1/decide?slots=hero&url=" + b"a" * (1 << 20))),
    case(
        "a 60 KB decide query",
        req(b"GET", b"/v1/decide?slots=hero&url=http://127.0.0.1/" + b"u" * 60000),
        {200},
    ),
    case("a 60 KB PURL token", req(b"GET", b"/p/" + b"t" * 60000), {303, 404}),
    case(
        "2,000 slots in the query",
        req(b"GET", b"/v1/decide?slots=" + b",".join([b"s"] * 2000)),
        {400},
    ),
]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    running = start_edge(
        tmp_path_factory.mktemp("fuzz-edge"),
        1000,
        {"OPMAAT_DEMO": "1", "OPMAAT_MAX_BODY_BYTES": str(MAX_BODY)},
        log_format="json",
        args=["--access-log"],
    )
    yield running
    running.stop()


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    found = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    if found:
        return len(body) >= int(found.group(1))
    return body.endswith(b"0\r\n\r\n")


def send(port: int, c: Case) -> Outcome:
    """Send ``c`` on a new connection; the first answer, or None when the edge closed first."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        try:
            for chunk in c.chunks:
                sock.sendall(chunk)
            if c.half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the edge refused and closed while we were still sending
        try:
            while not _complete(data):
                got = sock.recv(65536)
                if not got:
                    break
                data += got
        except TimeoutError:
            return Outcome(_status(data), data, hung=True)
        except OSError:
            pass  # reset: closed
    return Outcome(_status(data), data)


def _status(data: bytes) -> int | None:
    found = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return int(found.group(1)) if found else None


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_malformed_http_gets_no_5xx(edge: Edge, c: Case) -> None:
    outcome = send(edge.port, c)
    assert not outcome.hung, f"no answer and not closed within {TIMEOUT} s"
    assert outcome.status is None or outcome.status < 500, outcome.raw[:400]
    if c.expect is not None:
        assert outcome.status in c.expect, outcome.raw[:400]


def test_every_case_in_a_row_counts_zero_5xx_and_the_edge_stays_up(edge: Edge) -> None:
    outcomes = {c.name: send(edge.port, c) for c in CASES}
    assert edge.get("/healthz")[0] == 200
    assert edge.get("/readyz")[0] == 200
    assert edge.proc.poll() is None
    answered = [name for name, o in outcomes.items() if o.status is not None]
    hung = [name for name, o in outcomes.items() if o.hung]
    errors = {name: o.status for name, o in outcomes.items() if (o.status or 0) >= 500}
    # The cases are not all refused at the door: most reach an answer of the edge.
    assert len(answered) > len(CASES) * 2 // 3
    assert hung == []
    assert errors == {}, f"{len(errors)} of {len(CASES)} malformed requests got a 5xx"


def _log_lines(path: Path, offset: int) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append({"level": "raw", "msg": line})
    return lines


def test_a_request_cut_short_is_no_error_of_the_edge(edge: Edge) -> None:
    """A visitor's network dropping mid-request is the visitor's doing: the edge must not log
    it as an unhandled error with a traceback, nor record a 500 for it in its access log (an
    attacker could otherwise fill the error log and the 5xx graphs at will)."""
    offset = edge.log.stat().st_size
    cut = [c for c in CASES if c.half_close] + [c for c in CASES if c.name == "chunk size not hex"]
    for c in cut:
        send(edge.port, c)
    rid = f"fuzz-{time.monotonic_ns()}"
    lines = _after_marker(edge, offset, rid)
    errors = [line["msg"] for line in lines if line.get("level") == "error"]
    server_5xx = [
        f"{line.get('method')} {line.get('route')}"
        for line in lines
        if line.get("logger") == "opmaat.access" and int(line.get("status") or 0) >= 500
    ]
    assert (errors, server_5xx) == ([], []), (
        f"{len(cut)} requests cut short: {len(errors)} error lines and {len(server_5xx)} 5xx "
        "in the edge's own log"
    )


def _json_answer(outcome: Outcome) -> Any:
    return json.loads(outcome.raw.partition(b"\r\n\r\n")[2])


def _cookie(outcome: Outcome) -> bytes:
    found = re.search(rb"\r\nset-cookie: (opmaat=[^;]+)", outcome.raw, re.IGNORECASE)
    assert found, outcome.raw[:400]
    return found.group(1)


def test_an_event_answered_as_stored_is_stored_whatever_its_text(edge: Edge) -> None:
    """JSON escapes can make text that is not Unicode at all (a lone surrogate, \\ud800): the
    edge must refuse such an event or keep it, not answer "stored" and lose it."""
    first = send(edge.port, case("decide", post(b"/v1/decide", DECIDE)))
    assert first.status == 200
    cookie = b"Cookie: " + _cookie(first)
    event = post(
        b"/v1/events",
        b'{"type":"goal","name":"add_to_cart","props":{"id":"sku-\\ud800","name":"x"}}',
        cookie,
    )
    answer = send(edge.port, case("event", event))
    assert answer.status in (200, 400)
    if answer.status == 400:
        return
    assert _json_answer(answer) == {"ok": True, "stored": True}
    me = send(edge.port, case("me", req(b"GET", b"/v1/me", [cookie])))
    assert me.status == 200
    cart = _json_answer(me)["stored"].get("cart", {}).get("items", [])
    assert len(cart) == 1, "answered stored, but the cart is empty"


def _after_marker(edge: Edge, offset: int, rid: str) -> list[dict[str, Any]]:
    marker = Case("marker", (req(b"GET", b"/healthz", [b"X-Request-Id: " + rid.encode()]),))
    assert send(edge.port, marker).status == 200
    deadline = time.monotonic() + 5
    while True:
        lines = _log_lines(edge.log, offset)
        if any(line.get("request_id") == rid for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)
