"""Decisions reach /metrics with the same names, labels and values, but are added to the
labelled counters when /metrics is read, not with a labels() call per decision; with several
workers (each writing its own metrics files) at once."""

from __future__ import annotations

from unittest import mock

import pytest
from prometheus_client import CollectorRegistry, Histogram
from starlette.testclient import TestClient

from opmaat.engine import Decision
from opmaat_edge import metrics as metrics_module
from opmaat_edge.metrics import DECIDE_BUCKETS, Metrics


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


def _histogram_samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in registry.collect()
        if family.name == "opmaat_decide_seconds"
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_decide_times_reach_the_histogram_as_observe_would_put_them() -> None:
    # Every bucket's edge, between two bounds, past the last (+Inf), and zero.
    times = [0.0, *DECIDE_BUCKETS, *(b * 1.5 for b in DECIDE_BUCKETS), 7.5, 0.00009]
    metrics = Metrics([])
    expected = CollectorRegistry()
    reference = Histogram("opmaat_decide_seconds", "x", buckets=DECIDE_BUCKETS, registry=expected)
    with mock.patch.object(metrics.decide_seconds, "observe") as observe:
        for seconds in times:
            metrics.decided({}, seconds, 0)
            reference.observe(seconds)
        assert observe.call_count == 0  # counted, not observed, until /metrics is read
    assert sample(metrics, "opmaat_decide_seconds_count") == 0
    metrics.exposition("ok")
    got, wanted = _histogram_samples(metrics.registry), _histogram_samples(expected)
    assert got.keys() == wanted.keys()
    for key, value in wanted.items():
        assert got[key] == pytest.approx(value), key
    metrics.exposition("ok")  # read again: nothing counted twice
    assert sample(metrics, "opmaat_decide_seconds_count") == len(times)


def test_a_histogram_that_cannot_be_added_to_is_observed_at_once() -> None:
    other = Histogram("h", "x", buckets=(0.1, 1.0), registry=CollectorRegistry())
    assert not metrics_module._can_add(other)  # not the decide histogram's buckets
    assert not metrics_module._can_add(mock.Mock(spec=[]))  # a version that keeps them apart
    metrics = Metrics([])
    assert metrics_module._can_add(metrics.decide_seconds)
    metrics._defer_seconds = False
    metrics.decided({}, 0.003, 0)
    assert sample(metrics, "opmaat_decide_seconds_count") == 1
    assert sample(metrics, "opmaat_decide_seconds_bucket", le="0.005") == 1
    metrics.exposition("ok")
    assert sample(metrics, "opmaat_decide_seconds_count") == 1
