"""Issue 23: the cockpit's count of bot requests left out starts as a Prometheus counter."""

from __future__ import annotations

from opmaat_edge.metrics import Metrics


def test_bot_requests_left_out_are_counted() -> None:
    metrics = Metrics([])
    assert b"opmaat_bot_requests_total 0.0" in metrics.exposition("ok")
    metrics.bot_left_out()
    metrics.bot_left_out()
    assert b"opmaat_bot_requests_total 2.0" in metrics.exposition("ok")
