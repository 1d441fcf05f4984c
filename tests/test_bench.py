"""The benchmarks behind `make bench` still run (their numbers are reported, not asserted)."""

from __future__ import annotations

from bench import context, decide, middleware, profile, request, store


def test_profile_benchmark_runs() -> None:
    assert profile.run(runs=20) > 0


def test_decide_benchmark_runs_on_the_returning_visitor() -> None:
    assert decide.run(runs=20)[decide.FIGURE] > 0


def test_context_benchmark_runs() -> None:
    assert all(micros > 0 for micros in context.run(number=20).values())


def test_middleware_benchmark_runs_and_fills_every_slot() -> None:
    ms = middleware.run(runs=20)
    assert ms["middleware"] > ms["bare"] > 0


def test_store_benchmark_runs_on_both_stores() -> None:
    result = store.run(total=300, rounds=1)
    assert "skipped" in result or result["redis"] > 0 < result["memory"]


def test_request_benchmark_runs_through_the_whole_app() -> None:
    assert request.run(runs=20, visitors=5, rounds=1) > 0
