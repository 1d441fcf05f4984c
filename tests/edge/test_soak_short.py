"""The soak in short (``python -m soak.traffic`` runs it for minutes): 15 s of mixed traffic
against a real edge process whose memory store holds at most 500 profiles, while thousands of
visitors come by, most of them crawlers that keep no cookie (each request a new profile, its
URL and referrer at the edge's length limits: about 7 KB of profile, 9 KB of memory each).

The memory bound. The soak's warm-up ends once the store and the URL parse caches are full
(or at 40% of the run); resident memory is read then and at the end. In between, with the
store bounded, memory can grow only by:

- the store still filling, if the warm-up ended first: at most 500 x 9 KB = 4.5 MB;
- the event stream (10,000 entries at most, about 1.2 KB each) with the rate-limit table and
  the other per-request leftovers: about 2 KB per event answered, measured; 3 KB is allowed;
- the allocator's slack: a few MB.

So the bound is 8 MB + 3 KB per event after the warm-up (13-21 MB in this run). A store that
kept every profile adds about 9 KB per profile made after the warm-up. Measured with this
run's traffic: max_profiles=500 grew +2.5 to +4.2 MB; max_profiles=100000 (no bound in
effect) grew +30 to +38 MB against bounds of 16-18 MB, 4,000-5,000 profiles after the
warm-up; on a machine busy with other work, +3.5 MB against +13 MB. The soak's own, looser
check for runs of minutes (``rss_allowance_mb``: 32 MB + 16 KB per stored profile) holds too.
"""

from __future__ import annotations

from collections import Counter

import pytest
from soak.traffic import Report, Tally, main, rss_allowance_mb, run

STORE_MAX = 500
SECONDS = 15
BOTS = 0.85  # of visits: the other 15% are people, who make most of the requests


@pytest.fixture(scope="module")
def report() -> Report:
    result = run(SECONDS, 16, STORE_MAX, bots=BOTS, seed=20261123)
    print(result.summary())  # shown with -rP, and with the failure of a test
    print(f"memory bound of this run: {bound_mb(result):.1f} MB")
    return result


def test_mixed_traffic_gets_no_5xx_and_every_good_request_its_answer(report: Report) -> None:
    t = report.tally
    assert t.requests > 2000
    assert 0.12 < t.bad / t.requests < 0.3  # about one in five is a bad input
    assert len({kind for kind in t.statuses if 400 <= kind < 500}) >= 5  # 400, 403-405, 413
    assert t.server_errors == 0, t.samples
    assert t.unanswered == 0, t.samples
    assert not t.good_refused, t.samples
    assert not t.bad_unexpected, t.samples
    assert t.returning_visits > 0


def test_no_event_answered_200_is_lost(report: Report) -> None:
    t = report.tally
    assert t.events_ok > 500
    assert report.events_counted == t.events_ok
    assert {k: v for k, v in report.metric_counts.items() if v} == dict(t.accepted)
    assert {kind for kind, _ in t.accepted} == {"impression", "click", "goal"}


def bound_mb(report: Report) -> float:
    return 8.0 + 3 * report.events_after_warmup / 1024


def test_memory_is_bounded_by_the_store_not_by_the_visitors(report: Report) -> None:
    assert report.made > 4 * STORE_MAX
    assert report.made_after_warmup > 2 * STORE_MAX
    assert report.rss_before_kb > 0
    assert report.rss_growth_mb < bound_mb(report), report.summary()
    assert report.rss_growth_mb < rss_allowance_mb(STORE_MAX)
    assert report.failures() == [], report.summary()


def test_the_edge_is_up_and_logged_no_error(report: Report) -> None:
    assert report.edge_alive
    assert report.edge_problems == []


def _report(**changes: object) -> Report:
    tally = Tally(requests=100, events_sent=10, events_ok=10)
    tally.accepted[("goal", "purchase")] = 10
    base: dict[str, object] = {
        "seconds": 1.0,
        "connections": 1,
        "store_max": 500,
        "tally": tally,
        "rss_start_kb": 70_000,
        "rss_before_kb": 80_000,
        "rss_after_kb": 90_000,
        "rss_peak_kb": 90_000,
        "events_counted": 10,
        "metric_counts": Counter({("goal", "purchase"): 10}),
        "profile_bytes": [2000],
        "bot_profile_bytes": [7000],
        "edge_alive": True,
        "edge_problems": [],
        "timeline": [],
        "warmup": 1.0,
        "at_warmup": (0, 0),
    }
    return Report(**{**base, **changes})  # type: ignore[arg-type]


def test_each_check_of_the_soak_can_fail() -> None:
    assert _report().failures() == []
    five = Tally(requests=100, server_errors=1, events_ok=10)
    five.accepted[("goal", "purchase")] = 10
    failing = {
        "5xx": _report(tally=five),
        "memory": _report(rss_after_kb=80_000 + int(rss_allowance_mb(500) * 1024) + 1),
        "lost event": _report(events_counted=9),
        "metric": _report(metric_counts=Counter({("goal", "purchase"): 9})),
        "down": _report(edge_alive=False),
        "error log": _report(edge_problems=["unhandled error on POST /v1/events"]),
    }
    for what, failed in failing.items():
        assert len(failed.failures()) == 1, what
        assert "FAILED" in failed.summary(), what


def test_the_command_says_what_it_found_and_fails_on_a_failed_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import soak.traffic

    given: dict[str, object] = {}

    def fake_run(seconds: float, connections: int, store_max: int, **kw: object) -> Report:
        given.update(seconds=seconds, connections=connections, store_max=store_max, **kw)
        return _report(events_counted=given["reported"])

    monkeypatch.setattr(soak.traffic, "run", fake_run)
    given["reported"] = 10
    assert main(["--seconds", "180", "--connections", "32"]) == 0
    assert (given["seconds"], given["connections"], given["store_max"]) == (180, 32, 1000)
    out = capsys.readouterr().out
    assert "100 requests tried" in out
    assert "All checks passed" in out
    given["reported"] = 7
    assert main(["--seconds", "5", "--connections", "2", "--store-max", "500"]) == 1
    assert "FAILED" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--seconds", "5", "--store-max", "10"])
