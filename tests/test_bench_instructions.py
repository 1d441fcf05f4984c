"""The instruction counter (bench/instructions.py), the naive route it and `bench.http` set
beside the edge (bench/naive_app.py), and the returning visitor the micro-benchmarks share."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from bench import instructions, naive_app, request, visitor


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
