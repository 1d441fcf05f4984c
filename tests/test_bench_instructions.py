"""The instruction counter (bench/instructions.py), the naive route it and `bench.http` set
beside the edge (bench/naive_app.py), and the returning visitor the micro-benchmarks share."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from bench import instructions, naive_app, request, served, visitor


def test_callgrinds_totals_are_read() -> None:
    output = "events: Ir\nsummary: 0\n\nfn=(1) main\n5 7\ntotals: 123456\n"
    assert instructions.totals(output) == 123456
    with pytest.raises(ValueError, match="no totals"):
        instructions.totals("events: Ir\nsummary: 0\n")


@pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("cc") is None,
    reason="needs valgrind and a C compiler",
)
def test_instructions_are_counted_for_the_measured_requests_only() -> None:
    few = instructions.count("bare", runs=3, warmup=2)
    more = instructions.count("bare", runs=6, warmup=2)
    assert 20_000 < few < 1_000_000  # a bare Starlette answer, not the start-up
    assert abs(more - few) / few < 0.2  # per request


def test_the_naive_route_checks_the_cookie_runs_its_rules_and_answers_json() -> None:
    app = naive_app.create_app()
    sent = asyncio.run(request.call(app, naive_app.visitor_cookie(7)))
    assert sent[0]["status"] == 200
    answer = json.loads(sent[1]["body"])
    assert answer["visitor"] == "visitor-00000007"
    assert set(answer["slots"]) == {"hero", "sidebar", "offer"}
    assert answer["slots"]["hero"]["html"] == "<p>Offer 0</p>"  # url contains "running"
    forged = asyncio.run(request.call(app, b"opmaat=forged.value.here"))
    assert json.loads(forged[1]["body"])["visitor"] is None
    assert len(naive_app.RULES) == 50


def test_the_returning_visitor_has_a_history() -> None:
    caught = visitor.returning_visitor(visits=3)
    profile = caught.profile
    assert profile["visitor"]["visits"] == 1
    assert profile["session"]["pageviews"] == 5  # the first decide, 3 more and this one
    assert profile["interests"]["top"] == "running"
    assert caught.visit.record["decisions"]
    assert caught.slots == ["hero", "sidebar", "offer"]
    assert caught.facts.page_url == "https://shop.example/c/running"


def test_the_served_benchmark_feeds_wrks_bytes_through_the_edges_protocol() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        async with served.edge(2) as one:
            decides = [await one(i) for i in range(3)]
        async with served.bare(1) as one:
            oks = [await one(i) for i in range(2)]
        return decides, oks

    with asyncio.Runner(loop_factory=served.new_loop) as runner:
        decides, oks = runner.run(scenario())
    for answer in decides:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"set-cookie: opmaat=" in head  # the returning visitor's cookie, written again
        assert set(json.loads(body)["slots"]) == {"hero", "sidebar", "offer"}
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") and a.endswith(b"\r\n\r\nok") for a in oks)
    raw = served.raw_request("POST", "/v1/decide", b"{}", b"opmaat=v", b"192.0.2.1")
    assert raw.startswith(b"POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert (
        b"\r\nCookie: opmaat=v\r\nX-Forwarded-For: 192.0.2.1\r\nContent-Length: 2\r\n\r\n{}" in raw
    )
