"""bench/RESULTS.md is written from the figures, with every budget and its command."""

from __future__ import annotations

import datetime as dt

from bench import baseline, report


def test_the_report_names_every_budget_and_says_which_are_missed() -> None:
    edge = {"rps": 1500.0, "p50_ms": 16.0, "p99_ms": 35.0, "non_2xx": 0}
    bare = {"rps": 15000.0, "p50_ms": 1.7, "p99_ms": 4.7, "non_2xx": 0}
    configs = {
        name: {**values, "socket_errors": {}, "log_problems": [], "store": None}
        for name, values in (
            ("bare/1", bare),
            ("edge/1", edge),
            ("bare/2", bare),
            ("edge/2", edge),
            ("memory/1", edge),
            ("sqlite/2", {**edge, "rps": 2600.0}),
        )
    }
    figures = {
        "http": {
            "settings": {
                "threads": 2,
                "connections": 32,
                "duration_s": 10,
                "rounds": 3,
                "campaigns": 216,
                "visitors": 500,
                "cpus": 2,
            },
            "configs": configs,
            "ratios": {"1": 0.1, "2": 0.1},
            "budget": {
                "1": {"ratio_ok": False, "p99_ok": False},
                "2": {"ratio_ok": False, "p99_ok": False},
            },
            "sqlite": {"ratio": 2600.0 / 1500.0, "ok": True},
            "redis_share": {"share": 1.0, "ok": True},
            "naive": {"rps": 5700.0, "p99_ms": 9.0, "over_bare": 0.38, "edge_over_naive": 0.26},
        },
        "baseline": baseline.compare([1500.0, 1400.0, 1450.0], [900.0, 950.0, 920.0]),
        "profile": 40.0,
        "decide": {"nothing matches": 80.0, "every slot filled": 95.0},
        "request": 430.0,
        "served": {"edge_us": 500.0, "bare_us": 40.0, "bare_over_edge": 0.08},
        "evaluator": {
            "ratio": 5.0,
            "growthbook_us": 2.5,
            "ours_us": 0.5,
            "cases": 900,
            "conditions": 48,
            "profiles": 20,
            "lowest_ratio": 2.1,
            "lowest_ratio_condition": "$all",
            "disagreements": [],
        },
        "memory": {
            "rss_per_profile": 1200.0,
            "budget": 2048,
            "traced_per_profile": 990.0,
            "encoded_mean": 2565.0,
            "encoded_length_per_profile": 646.0,
            "hot_tier": 18_000_000.0,
            "decoded_tier": 7_900_000.0,
        },
        "snippet": {"raw": 4486, "gzip": 1832, "brotli": 1581, "budget": 2048},
        "middleware": {"bare": 1.0, "middleware": 1.5, "added": 0.5},
        "store": {"memory": 3000.0, "redis": 1400.0, "ratio": 0.47},
    }
    text = report.render(figures, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    budgets = text.split("## Budgets", 1)[1].split("## Details", 1)[0]
    assert budgets.count("| met |") == 7
    assert "| 1.73 (2,600 / 1,500; p99 35.0 ms) | ≥ 1.60 | met |" in budgets
    assert budgets.count("**missed**") == 4
    assert "| 0.63 (920 / 1,450 µs) | ≤ 0.33 | **missed** | `python -m bench.baseline` |" in budgets
    assert "| 0.26 (naive / bare 0.38) | reported |  |" in budgets
    figures["baseline"] = {"available": False, "why": "commit c8dabc9 is not in this clone"}
    shallow = report.render(figures, dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    assert "| not measured: commit c8dabc9 is not in this clone | ≤ 0.33 | **missed** |" in shallow
    assert "`python -m bench.memory`" in budgets
    assert "1,200 B" in budgets
    assert "Redis / memory 0.47" in text
    assert '(`python -m bench.served`): 500 µs; bare Starlette\'s "ok" served so 40.0 µs' in text
    assert "the decoded records (1,000 at most" in text
    assert "## Budgets still missed" in text


def test_the_baseline_is_left_out_when_the_clone_lacks_its_commit() -> None:
    found = baseline.run(rounds=1, commit="0" * 40)
    assert found == {"available": False, "why": "commit 0000000 is not in this clone's history"}
    assert "not measured" in baseline.line(found)
    compared = baseline.compare([300.0, 330.0, 310.0], [100.0, 90.0, 120.0])
    assert (compared["baseline_us"], compared["current_us"]) == (310.0, 100.0)
    assert compared["ok"]
