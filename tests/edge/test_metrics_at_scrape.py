"""Decisions reach /metrics with the same names, labels and values, but are added to the
labelled counters when /metrics is read, not with a labels() call per decision; with several
workers (each writing its own metrics files) at once."""

from __future__ import annotations

from unittest import mock

from starlette.testclient import TestClient

from opmaat.engine import Decision
from opmaat_edge.metrics import Metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_decisions_are_counted_when_the_metrics_are_read(client: TestClient) -> None:
    metrics: Metrics = client.app.state.edge.metrics  # type: ignore[attr-defined]
    with mock.patch.object(metrics.decisions, "labels", wraps=metrics.decisions.labels) as labels:
        for _ in range(3):
            assert client.post("/v1/decide", content=b'{"slots": ["hero", "nope"]}').is_success
        assert labels.call_count == 0
        text = client.get("/metrics").text
        assert labels.call_count == 2  # one per label set, whatever the number of decisions
    assert 'opmaat_decisions_total{campaign="",slot="hero",variant=""} 3.0' in text
    assert 'opmaat_decisions_total{campaign="",slot="other",variant=""} 3.0' in text
    assert sample(metrics, "opmaat_decide_seconds_count") == 3
    client.post("/v1/decide", content=b'{"slots": ["hero"]}')
    assert 'slot="hero",variant=""} 4.0' in client.get("/metrics").text


def test_holdouts_and_decisions_count_the_same_as_before() -> None:
    metrics = Metrics([])
    metrics.known_slots = lambda: {"hero"}
    held = Decision("hero", "c1", None, None, "held out", holdout=True)
    shown = Decision("hero", "c1", "a", "<p>", "because")
    metrics.decided({"hero": held}, 0.001, 0)
    metrics.decided({"hero": shown, "x": Decision("x", None, None, None, "none")}, 0.001, 1)
    shown_labels = {"slot": "hero", "campaign": "c1", "variant": "a"}
    assert sample(metrics, "opmaat_decisions_total", **shown_labels) is None  # not read yet
    metrics.exposition("ok")
    assert sample(metrics, "opmaat_holdout_decisions_total", campaign="c1") == 1
    assert sample(metrics, "opmaat_decisions_total", slot="hero", campaign="c1", variant="") == 1
    assert sample(metrics, "opmaat_decisions_total", slot="hero", campaign="c1", variant="a") == 1
    assert sample(metrics, "opmaat_decisions_total", slot="other", campaign="", variant="") == 1
    assert sample(metrics, "opmaat_render_errors_total") == 1
    metrics.exposition("ok")  # read again: nothing counted twice
    assert sample(metrics, "opmaat_holdout_decisions_total", campaign="c1") == 1


def test_with_several_workers_each_decision_is_counted_at_once() -> None:
    metrics = Metrics([])
    metrics.multiprocess = True  # whichever worker answers /metrics reads the others' files
    metrics.known_slots = lambda: {"hero"}
    metrics.decided({"hero": Decision("hero", "c1", "a", "<p>", "because")}, 0.001, 0)
    assert sample(metrics, "opmaat_decisions_total", slot="hero", campaign="c1", variant="a") == 1
